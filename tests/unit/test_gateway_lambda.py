"""The Lambda handler with real API Gateway HTTP API (payload 2.0) events, on librdkafka's mock cluster.
The same events against the real broker: tests/integration/test_gateway_lambda.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from eventbus.settings import Settings
from lambdas.gateway.handler import Container
from tests.support.gateway import mock_cluster_gateway

EVENTS = Path(__file__).parent / "test_gateway_apigw"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="travel-gateway",
        aws_request_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        get_remaining_time_in_millis=lambda: 29_000,
    )


@pytest.fixture
def created() -> list[Any]:
    """The gateways the container built (one per container)."""
    return []


@pytest.fixture
def invoke(settings: Settings, created: list[Any]) -> Iterator[Container]:
    """A Lambda container of the test's own whose Gateway produces to librdkafka's mock cluster."""

    def gateway_factory(_settings: Settings, config: Any) -> Any:
        created.append(mock_cluster_gateway(settings, config))
        return created[-1]

    container = Container(gateway_factory)
    yield container
    container.close()


def test_post_user_event(invoke: Container, created: list[Any]) -> None:
    event = load_event("post_user_event.json")
    out = invoke(event, lambda_context())
    assert out["statusCode"] == 200, out
    body = json.loads(out["body"])
    assert body["event_id"] == json.loads(event["body"])["event_id"]
    assert body["request_id"] == event["requestContext"]["requestId"]
    assert out["headers"]["x-request-id"] == event["requestContext"]["requestId"]
    (gateway,) = created
    assert len(gateway.producer) == 0 and gateway.producer.delivered == 1  # flushed before returning


def test_one_producer_per_container_across_invocations(invoke: Container, created: list[Any]) -> None:
    for name in ("post_user_event.json", "post_booking_event.json", "get_health.json"):
        out = invoke(load_event(name), lambda_context())
        assert out["statusCode"] == 200, out
    assert len(created) == 1 and created[0].producer.delivered == 2


def test_base64_batch_is_answered_per_event(invoke: Container, created: list[Any]) -> None:
    event = load_event("post_batch_base64.json")
    assert event["isBase64Encoded"] and json.loads(base64.b64decode(event["body"]))["events"]
    out = invoke(event, lambda_context())
    assert out["statusCode"] == 207, out
    results = json.loads(out["body"])["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    assert "event_type" in results[1]["reason"] and "session_id" in results[1]["reason"]


def test_missing_api_key_is_401(invoke: Container, created: list[Any]) -> None:
    out = invoke(load_event("post_user_no_api_key.json"), lambda_context())
    assert out["statusCode"] == 401 and json.loads(out["body"])["error"] == "unauthorized"
    assert created[0].producer.delivered == 0
