"""The Lambda handler, as Lambda would call it, with API Gateway HTTP API (payload 2.0) events, producing
to the real local broker (settings from the environment, as in AWS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import Settings
from lambdas.gateway.handler import Container
from tests.support.gateway import TOPIC

EVENTS = Path(__file__).resolve().parent.parent / "unit" / "test_gateway_apigw"


@pytest.fixture
def container() -> Iterator[Container]:
    """A Lambda container of the test's own, built as Lambda builds one (real Gateway, settings from the env)."""
    invoke = Container()
    yield invoke
    invoke.close()


def _invoke(container: Container, name: str) -> dict:
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 29_000)
    return container(json.loads((EVENTS / name).read_text()), context)


def test_handler_produces_to_the_broker_with_the_callers_ip(container: Container) -> None:
    settings = Settings(profile="local")
    start = end_offsets(settings, TOPIC)
    out = _invoke(container, "post_user_event.json")
    assert out["statusCode"] == 200, out
    body = json.loads(out["body"])
    out = _invoke(container, "post_batch_base64.json")
    assert out["statusCode"] == 207, out
    assert _invoke(container, "post_user_no_api_key.json")["statusCode"] == 401
    assert container.gateway is not None and len(container.gateway.producer) == 0

    end = end_offsets(settings, TOPIC)
    found = {rec["event_id"]: (key, rec) for key, rec in read_range(settings, start, end, TOPIC)}
    key, record = found[body["event_id"]]
    assert key == b"user-4711"
    assert record["client_ip"] == "203.0.113.42"  # requestContext.http.sourceIp
    assert record["user_agent"].startswith("TravelApp/5.2.0")
    assert record["destination"] == "Da Nang" and record["properties"]["guests"] == "2"
    assert "5e2c7d1a-0b3f-4e6a-8c9d-2f1e0a3b4c5d" in found  # the batch's valid event
