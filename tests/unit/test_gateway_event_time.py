"""The gateway's half of the event-time contract (schemas/topics.yaml ``event_time``): an ``event_ts``
further ahead of the gateway's clock than ``max_future_skew_s`` is a 422 naming ``event_ts`` (per event
in a batch); late timestamps and those within the skew are accepted. Consumers clamp to the same bound."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from eventbus.catalog import load_catalog
from lambdas.gateway.ingest import Gateway
from tests.support.gateway import sample_event

KEY = {"x-api-key": "local-dev-key"}


def _skew_ms() -> int:
    et = load_catalog().get("topic_app_events").event_time
    assert et is not None and et.trusted == "received_ts"
    return et.max_future_skew_ms


def test_event_dated_2099_is_422_naming_event_ts(client: TestClient, gateway: Gateway) -> None:
    r = client.post("/events/user", json=sample_event(event_ts="2099-01-01T00:00:00Z"), headers=KEY)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["problems"][0]["field"] == "event_ts" and "ahead of the gateway's clock" in body["message"]
    assert gateway.producer.delivered == 0 and gateway.metrics.events_rejected == 1


def test_within_the_skew_and_late_events_are_accepted(client: TestClient) -> None:
    now = int(time.time() * 1000)
    for ts in (now + _skew_ms() - 30_000, now - 20 * 60_000):
        r = client.post("/events/user", json=sample_event(event_ts=ts), headers=KEY)
        assert r.status_code == 200, r.text


def test_batch_rejects_only_the_future_event(client: TestClient, gateway: Gateway) -> None:
    ahead = int(time.time() * 1000) + _skew_ms() + 60_000
    events = [sample_event(), sample_event(event_ts=ahead), sample_event()]
    r = client.post("/events/batch", json={"events": events}, headers=KEY)
    assert r.status_code == 207, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected", "accepted"]
    assert results[1]["reason"].startswith("event_ts: ") and results[1]["event_id"]
    assert gateway.producer.delivered == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("event_time: {field: ts, trusted: nope, max_future_skew_s: 300}", "event_time.trusted 'nope'"),
        ("event_time: {field: when, trusted: kafka_timestamp, max_future_skew_s: 300}", "event_time.field 'when'"),
        ("event_time: {field: ts, trusted: kafka_timestamp, max_future_skew_s: -1}", "non-negative"),
        ("event_time: {field: ts, trusted: kafka_timestamp}", "'event_time' must be"),
        ("dedup_key: nope", "dedup_key 'nope'"),
    ],
)
def test_the_catalog_event_time_contract_is_validated(tmp_path, extra: str, message: str) -> None:
    from eventbus.catalog import parse_catalog
    from eventbus.exceptions import ConfigurationError

    (tmp_path / "a.avsc").write_text('{"type": "record", "name": "A", "fields": [{"name": "ts", "type": "long"}]}')
    path = tmp_path / "topics.yaml"
    path.write_text(f"topics:\n  t:\n    partitions: 1\n    cleanup_policy: delete\n    key: k\n    schema: a.avsc\n"
                    f"    {extra}\n")
    with pytest.raises(ConfigurationError, match=message):
        parse_catalog(path)
