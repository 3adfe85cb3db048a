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


def test_a_container_that_cannot_start_answers_503_with_retry_after_then_starts_on_the_next_call(
        settings: Settings, created: list[Any]) -> None:
    """Building the Gateway calls Glue and Secrets Manager; a throttled call is a 503 in the gateway's
    Problem shape (not API Gateway's bare 500), and the next invocation builds it again."""
    from botocore.exceptions import ClientError

    failures = [ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetSchemaVersion")]

    def flaky(_settings: Settings, config: Any) -> Any:
        if failures:
            raise failures.pop()
        created.append(mock_cluster_gateway(settings, config))
        return created[-1]

    container = Container(flaky)
    try:
        event = load_event("post_user_event.json")
        out = container(event, lambda_context())
        assert out["statusCode"] == 503, out
        assert out["headers"]["retry-after"] == "5" and out["headers"]["content-type"] == "application/json"
        body = json.loads(out["body"])
        assert body["error"] == "unavailable" and body["request_id"] == event["requestContext"]["requestId"]
        assert created == []
        assert container(event, lambda_context())["statusCode"] == 200
        assert len(created) == 1 and created[0].producer.delivered == 1
    finally:
        container.close()


def test_a_refused_configuration_is_a_500_that_says_so(settings: Settings) -> None:
    from eventbus.exceptions import ConfigurationError

    def refused(_settings: Settings, _config: Any) -> Any:
        raise ConfigurationError("EB_GATEWAY_API_KEYS_SECRET_ARN is not an ARN")

    out = Container(refused)(load_event("post_user_event.json"), lambda_context())
    assert out["statusCode"] == 500 and json.loads(out["body"])["error"] == "misconfigured"
    assert "ARN" not in out["body"]  # the detail is logged, not sent to the client
