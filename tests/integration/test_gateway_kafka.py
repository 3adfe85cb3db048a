"""The gateway against the real local broker and registry: what is accepted is in topic_app_events,
decodable and keyed by user_id; what is refused is not; the CLI serves it under uvicorn."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import Settings
from lambdas.gateway.app import create_app
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.ingest import Gateway
from tests.support.gateway import TOPIC, sample_booking, sample_event
from tests.support.harness import inject_fatal, served_gateway

KEY = {"x-api-key": "local-dev-key"}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(profile="local")


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Iterator[Gateway]:
    gw = Gateway(settings)
    yield gw
    gw.close()


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gateway=gateway)) as c:
        yield c


def _ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:8]}-{i}" for i in range(n)]


def _in_topic(settings: Settings, start: dict[int, int]) -> dict[str, tuple[bytes | None, dict[str, Any]]]:
    end = end_offsets(settings, TOPIC)
    return {rec["event_id"]: (key, rec) for key, rec in read_range(settings, start, end, TOPIC)}


def test_accepted_events_are_in_the_topic_decodable_keyed_and_rejected_ones_are_not(
    client: TestClient, settings: Settings
) -> None:
    start = end_offsets(settings, TOPIC)
    good, bad = _ids("it-good", 6), _ids("it-bad", 4)
    for i, eid in enumerate(good[:3]):
        r = client.post("/events/user", json=sample_event(event_id=eid, user_id=f"it-user-{i}"), headers=KEY)
        assert r.status_code == 200, r.text
    r = client.post("/events/booking", json=sample_booking(event_id=good[3], user_id="it-user-b"), headers=KEY)
    assert r.status_code == 200, r.text
    batch = [
        sample_event(event_id=good[4], user_id="it-user-4"),
        sample_event(event_id=bad[0], event_type="teleport"),
        sample_booking(event_id=good[5], user_id="it-user-5"),
        sample_event(event_id=bad[1], event_type="payment_submitted"),  # no booking_id
    ]
    r = client.post("/events/batch", json={"events": batch}, headers=KEY)
    assert r.status_code == 207 and [x["status"] for x in r.json()["results"]] == [
        "accepted", "rejected", "accepted", "rejected"
    ]
    assert client.post("/events/user", json=sample_event(event_id=bad[2], user_id=5), headers=KEY).status_code == 422
    assert client.post("/events/user", json=sample_event(event_id=bad[3])).status_code == 401

    found = _in_topic(settings, start)
    assert set(good) <= set(found)
    assert not set(bad) & set(found)
    for eid in good:
        key, record = found[eid]
        assert key == record["user_id"].encode()
        assert record["received_ts"] >= record["event_ts"]
        assert record["client_ip"] == "testclient"
    assert found[good[3]][1]["booking_id"] == "bk-1" and found[good[3]][1]["currency"] == "VND"


def test_limits_and_errors_against_the_real_broker(client: TestClient) -> None:
    too_many = {"events": [sample_event() for _ in range(501)]}
    assert client.post("/events/batch", json=too_many, headers=KEY).status_code == 413
    big = sample_event(properties={"blob": "x" * 2000, **{f"k{i}": "v" * 2000 for i in range(40)}})
    assert client.post("/events/user", json=big, headers=KEY).status_code == 413
    r = client.post("/events/user", content=b"{not json", headers={**KEY, "content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    assert client.get("/ready").json()["status"] == "ready"


def test_cli_runs_the_app_under_uvicorn_with_two_workers(settings: Settings) -> None:
    start = end_offsets(settings, TOPIC)
    eid = _ids("it-cli", 1)[0]
    with served_gateway(workers=2) as url:
        r = httpx.post(f"{url}/events/user", json=sample_event(event_id=eid, user_id="it-cli-user"), headers=KEY)
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"]
        metrics = httpx.get(f"{url}/metrics", headers=KEY).text
        assert "gateway_events_accepted_total" in metrics
        assert httpx.get(f"{url}/docs").status_code == 200
    key, record = _in_topic(settings, start)[eid]
    assert key == b"it-cli-user" and record["client_ip"] == "127.0.0.1"


def test_readiness_after_a_fatal_producer_error_probes_the_replacement_client(settings: Settings) -> None:
    """An idle gateway whose client librdkafka declared fatally broken: the probe replaces it (it does
    not wait for the next message) and asks the new client, and the next event lands through it."""
    gw = Gateway(settings, GatewayConfig(ready_cache_s=0))
    try:
        broken = gw.producer.raw
        inject_fatal(gw.producer)
        ok, detail = asyncio.run(gw.ready())
        assert ok, detail
        assert gw.producer.replacements == 1 and gw.producer.raw is not broken and gw.producer.fatal is None
        start = end_offsets(settings, TOPIC)
        eid = _ids("it-after-fatal", 1)[0]
        with TestClient(create_app(gateway=gw)) as c:
            r = c.post("/events/user", json=sample_event(event_id=eid, user_id="it-fatal-user"), headers=KEY)
            assert r.status_code == 200, r.text
        assert eid in _in_topic(settings, start)
        assert gw.producer.replacements == 1  # the probe's replacement carried it
    finally:
        gw.close()
