"""The console's API against the real stack: decoded records, paging, follow, bad input, read-only."""

from __future__ import annotations

import io
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic
from fastapi.testclient import TestClient

from eventbus.kafka.admin import make_admin
from eventbus.kafka.producer import Producer
from eventbus.kafka.reader import end_offsets
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from local.console.app import create_app
from local.console.clients import Clients
from local.console.config import ConsoleSettings
from local.console.filters import Filter
from local.console.peek import peek
from local.stack.health import wait_until

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def app_event(user_id: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"event_id": str(uuid.uuid4()), "event_type": "search", "event_ts": now, "received_ts": now,
            "user_id": user_id, "session_id": f"s-{user_id}", "platform": "web", "properties": {"q": "console"},
            **extra}


def produce(settings: Settings, topic: str, records: list[dict[str, Any]], as_topic: str = "topic_app_events",
            key_field: str = "user_id") -> None:
    """Encode with ``as_topic``'s schema (registered under that name) and write to ``topic``."""
    serde = AvroSerde(Settings())  # the real catalog: the schema is registered under its own name
    producer = Producer(settings, client_id="t-console")
    for r in records:
        producer.produce(topic, serde.encode(as_topic, r), key=r[key_field])
    producer.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(sample=False)) as c:
        yield c


def test_a_produced_record_comes_back_decoded_with_its_schema_version(client: TestClient) -> None:
    settings = Settings()
    user = f"u-console-{uuid.uuid4().hex[:10]}"
    event = app_event(user)
    produce(settings, "topic_app_events", [event])
    body = client.get("/api/topics/topic_app_events/messages", params={"key": user, "limit": 5}).json()
    [row] = body["records"]
    assert row["key"] == user and row["value"]["event_id"] == event["event_id"]
    assert row["value"]["properties"] == {"q": "console"}
    assert isinstance(row["schema_version"], int) and row["schema_version"] >= 1
    assert row["partition"] >= 0 and row["offset"] >= 0 and row["timestamp"] > 0
    by_field = client.get("/api/topics/topic_app_events/messages",
                          params={"where": f"event_id={event['event_id']}", "limit": 5}).json()
    assert [r["value"]["event_id"] for r in by_field["records"]] == [event["event_id"]]
    by_enum = client.get("/api/topics/topic_app_events/messages",  # an enum field: written as its index
                         params={"key": user, "where": "event_type=search", "limit": 5}).json()
    assert [r["value"]["event_id"] for r in by_enum["records"]] == [event["event_id"]]


def test_pages_go_backwards_without_overlap(client: TestClient) -> None:
    settings = Settings()
    user = f"u-console-page-{uuid.uuid4().hex[:8]}"
    produce(settings, "topic_app_events", [app_event(user, page=str(i)) for i in range(7)])
    first = client.get("/api/topics/topic_app_events/messages", params={"key": user, "limit": 4}).json()
    second = client.get("/api/topics/topic_app_events/messages",
                        params={"key": user, "limit": 4, "before": first["cursor"]}).json()
    pages = [r["value"]["page"] for r in first["records"]], [r["value"]["page"] for r in second["records"]]
    assert pages == (["6", "5", "4", "3"], ["2", "1", "0"])  # one key = one partition, in order


def test_follow_finds_a_users_event_newest_first(client: TestClient) -> None:
    settings = Settings()
    user = f"u-console-follow-{uuid.uuid4().hex[:8]}"
    produce(settings, "topic_app_events", [app_event(user, event_type="app_open"), app_event(user)])
    body = client.get("/api/follow", params={"kind": "user_id", "id": user}).json()
    kinds = [(e["source"], e["value"]["event_type"]) for e in body["entries"]]
    assert kinds == [("topic_app_events", "search"), ("topic_app_events", "app_open")]
    assert {s["topic"] for s in body["sources"]} >= {"topic_app_events", "topic_cdc_changes", "postgres"}


@pytest.mark.parametrize(("url", "status", "says"), [
    ("/api/topics/topic_nope/messages", 404, "unknown topic 'topic_nope'"),
    ("/api/topics/topic_app_events/messages?key=/[unclosed/", 400, "malformed key filter"),
    ("/api/topics/topic_app_events/messages?key=", 400, "malformed key filter"),
    ("/api/topics/topic_app_events/messages?where=nofield", 400, "expected FIELD=VALUE"),
    ("/api/topics/topic_app_events/messages?where=colour=red", 400, "unknown field 'colour'"),
    ("/api/topics/topic_app_events/messages?before=zz", 400, "malformed cursor"),
    ("/api/topics/topic_app_events/messages?limit=0", 400, "limit 0"),
    ("/api/topics/topic_app_events/messages?limit=x", 400, "bad parameter"),
    ("/api/follow?kind=hotel_id&id=h-1", 400, "choose one of user_id, session_id, booking_id"),
    ("/api/follow?kind=user_id&id=%27;drop", 400, "malformed user_id"),
])
def test_bad_input_is_a_4xx_with_one_clear_line(client: TestClient, url: str, status: int, says: str) -> None:
    resp = client.get(url)
    assert resp.status_code == status
    assert says in resp.json()["error"]


def test_an_unreachable_broker_is_a_424_within_the_deadline() -> None:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    console = ConsoleSettings(timeout_s=2)
    with TestClient(create_app(Clients(settings, console), sample=False)) as c:
        for url in ("/api/topics", "/api/topics/topic_app_events/messages", "/api/follow?kind=user_id&id=u-1"):
            t0 = time.monotonic()
            resp = c.get(url)
            assert resp.status_code == 424, (url, resp.text)
            assert "unreachable" in resp.json()["error"] and "make local-up" in resp.json()["error"]
            assert time.monotonic() - t0 < 8
        lag = c.get("/api/lag")
        assert lag.status_code == 200 and "unreachable" in lag.json()["kafka"]["error"]


@pytest.fixture
def scratch_catalog(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Settings, str]]:
    """A catalog with one scratch topic holding app events (or the schema given by indirect parametrization)."""
    schema = getattr(request, "param", "app_event.avsc")
    topic = f"t_console_{uuid.uuid4().hex[:8]}"
    path = tmp_path / "topics.yaml"
    path.write_text(f"components:\n  console: {{code: local/console}}\ntopics:\n  {topic}:\n    partitions: 2\n"
                    f"    cleanup_policy: delete\n    key: user_id\n"
                    f"    schema: {SCHEMAS / schema}\n    readers: [console]\n")  # what the console lists
    settings = Settings(catalog_path=path)
    admin = make_admin(settings)
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    wait_until(lambda: topic in admin.list_topics(timeout=5).topics, 30, f"{topic} created")
    try:
        yield settings, topic
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)


def test_the_console_never_writes_to_kafka(scratch_catalog: tuple[Settings, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    settings, topic = scratch_catalog
    user = "u-console-ro"
    produce(settings, topic, [app_event(user) for _ in range(5)])
    before = end_offsets(settings, topic)
    import confluent_kafka

    created: list[str] = []

    class NoProducer:
        def __init__(self, *a: Any, **k: Any) -> None:
            created.append("producer")
            raise AssertionError("the console created a Kafka producer")

    monkeypatch.setattr(confluent_kafka, "Producer", NoProducer)
    clients = Clients(settings, ConsoleSettings(sample_every_s=1))
    with TestClient(create_app(clients)) as c:
        urls = ["/api/health", "/api/topics?fresh=true", f"/api/topics/{topic}/messages",
                f"/api/topics/{topic}/messages?key={user}&limit=2", f"/api/topics/{topic}/messages?where=platform=web",
                f"/api/follow?kind=user_id&id={user}", "/api/lag", "/api/sources", "/", "/static/app.js"]
        for url in urls:
            assert c.get(url).status_code == 200, url
        page = c.get(f"/api/topics/{topic}/messages?limit=2").json()
        assert c.get(f"/api/topics/{topic}/messages?before={page['cursor']}").status_code == 200
        rows = c.get("/api/topics").json()["topics"]
        assert rows[0]["topic"] == topic and rows[0]["messages"] == 5
    out = io.StringIO()
    assert peek(clients, topic, Filter(key=user), 3, follow=True, out=out, stop_after_s=1) == 3
    assert created == []
    assert end_offsets(settings, topic) == before
    # Keep the admin client alive until its future resolves (a collected client can leave the future
    # unresolved forever), and bound the wait: a hang here is a failure, not a CI timeout.
    admin = make_admin(settings)
    groups = admin.list_consumer_groups(request_timeout=10).result(timeout=30).valid
    assert not [g.group_id for g in groups if g.group_id.startswith("eventbus-console")]


def test_peek_follow_prints_new_records_once(scratch_catalog: tuple[Settings, str]) -> None:
    settings, topic = scratch_catalog
    produce(settings, topic, [app_event("u-old")])
    out = io.StringIO()
    clients = Clients(settings)
    t = threading.Thread(target=peek, args=(clients, topic, Filter(), 1, True, out, 15.0), daemon=True)
    t.start()
    wait_until(lambda: "u-old" in out.getvalue(), 20, "peek printed the newest record")
    fresh = app_event("u-new")
    produce(settings, topic, [fresh])
    wait_until(lambda: fresh["event_id"] in out.getvalue(), 20, "peek --follow printed the new record")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and '"schema_version":' in lines[1] and '"partition":' in lines[1]


@pytest.mark.parametrize("scratch_catalog", ["dead_letter.avsc"], indirect=True)
def test_tombstones_and_dead_letter_reasons_are_shown(scratch_catalog: tuple[Settings, str]) -> None:
    settings, topic = scratch_catalog
    dead = {"original_topic": "topic_app_events", "original_key": b"u-1", "original_value": b"\x03\x00junk",
            "original_partition": 2, "original_offset": 41, "error_type": "SerdeError",
            "error_message": "not a Glue Schema Registry record", "component": "spark",
            "failed_ts": int(time.time() * 1000), "attempt": 1, "headers": {}}
    producer = Producer(settings, client_id="t-console")
    producer.produce(topic, AvroSerde(Settings()).encode("topic_dead_letter", dead), key="topic_app_events")
    producer.produce(topic, None, key="gone")
    producer.flush()
    with TestClient(create_app(Clients(settings), sample=False)) as c:
        rows = c.get(f"/api/topics/{topic}/messages").json()["records"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["gone"]["tombstone"] is True and by_key["gone"]["value"] is None
    letter = by_key["topic_app_events"]
    assert letter["dead_letter"]["reason"] == "SerdeError: not a Glue Schema Registry record"
    assert letter["value"]["original_key"] == "u-1"  # bytes shown as text when UTF-8
    assert letter["value"]["original_value"] == {"base64": "AwBqdW5r"}
