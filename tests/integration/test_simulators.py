"""The simulators against the real local engines: Kafka (Avro, acked), the real gateway under uvicorn,
PostgreSQL (the OLTP workload), and a broker that is unreachable when the run starts."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import Settings
from lambdas.simulators.booking import OPERATIONS, PAYMENT_MOVES, legal, plan_for
from lambdas.simulators.runner import Runner
from lambdas.simulators.scenario import load_scenario
from lambdas.simulators.sinks import KafkaSink
from lambdas.simulators.world import World
from tests.support.harness import served_gateway

START = "2025-06-01T08:00:00Z"
ID_FIELD = {"topic_app_events": "event_id", "topic_clickstream": "click_id", "topic_app_logs": "log_id",
            "topic_external_data": "record_id"}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(profile="local")


def _ms(value: Any) -> Any:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else value


def test_kafka_direct_records_are_acked_decodable_keyed_and_deterministic(settings: Settings, tmp_path: Path) -> None:
    seed = random.randrange(2**31)  # a fresh seed: ids never seen in these topics before
    base = [f"seed={seed}", f"start={START}", "speed=max", "count=2400", "hash=true", "sources.oltp.enabled=false"]
    before = {t: end_offsets(settings, t) for t in ID_FIELD}
    kafka = Runner(load_scenario("default", [*base, "sink=kafka"]), settings).run()
    after = {t: end_offsets(settings, t) for t in ID_FIELD}
    assert kafka["errors"] == [] and kafka["undelivered"] == 0
    assert kafka["sinks"]["kafka"]["delivered"] == 2400 == kafka["emitted"]

    out = tmp_path / "same.jsonl"
    replay = Runner(load_scenario("default", [*base, "sink=jsonl", f"file.path={out}"]), settings).run()
    assert replay["content_sha256"] == kafka["content_sha256"]  # same seed + scenario, another sink
    expected = {}
    for line in out.read_text().splitlines():
        doc = json.loads(line)
        expected[doc["value"][ID_FIELD[doc["topic"]]]] = (doc["topic"], doc["key"], doc["value"])

    tag = World(seed, users=1).tag.encode()
    found: dict[str, Any] = {}
    for topic in ID_FIELD:
        containing = tag if topic == "topic_app_events" else None  # anonymous clicks carry no user id
        for key, rec in read_range(settings, before[topic], after[topic], topic=topic, containing=containing):
            rid = rec[ID_FIELD[topic]]
            if rid in expected:
                found[rid] = (topic, key.decode() if key else None, {k: _ms(v) for k, v in rec.items()})
    assert set(found) == set(expected)
    for rid, (topic, key, value) in expected.items():
        assert found[rid] == (topic, key, value)  # the bytes in Kafka decode to exactly what was generated


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with served_gateway(workers=1) as url:
        yield url


def test_journeys_through_the_real_gateway_book_rows_that_exist_in_postgres(
    settings: Settings, gateway_url: str, tmp_path: Path
) -> None:
    seed = random.randrange(2**31)
    before = end_offsets(settings, "topic_app_events")
    oplog = tmp_path / "oltp.jsonl"
    started_ms = int(time.time() * 1000)
    report = Runner(load_scenario("default", [
        f"seed={seed}", "speed=max", "count=2000", f"gateway.url={gateway_url}", "users=300",
        "sources.mobile.options.concurrent_sessions=4", "sources.web.options.concurrent_sessions=4",
        "sources.web.rate=1",
        "sources.clickstream.enabled=false", "sources.app_logs.enabled=false", "sources.external.enabled=false",
        "sources.oltp.rate=0.5", "sources.oltp.sink=jsonl", f"file.path={oplog}",
        "sources.oltp.options.lifecycle_time_scale=0.001", "sources.oltp.options.finish=drain",
        "sources.oltp.options.resume_open=false"]), settings).run()
    assert report["errors"] == [] and report["undelivered"] == 0
    assert report["sinks"]["gateway"]["delivered"] == report["sources"]["mobile"]["emitted"] + \
        report["sources"]["web"]["emitted"]

    tag = World(seed, users=1).tag
    events = [rec for _, rec in read_range(settings, before, end_offsets(settings, "topic_app_events"),
                                           topic="topic_app_events", containing=f"u-{tag}-".encode())]
    events = [e for e in events if e["user_id"].startswith(f"u-{tag}-")]
    assert len(events) == report["sinks"]["gateway"]["delivered"]
    assert all(_ms(e["received_ts"]) >= started_ms and e["client_ip"] == "127.0.0.1" for e in events)

    sessions: dict[str, list[dict[str, Any]]] = {}
    for e in sorted(events, key=lambda e: _ms(e["event_ts"])):
        sessions.setdefault(e["session_id"], []).append(e)
    booked = {}
    for sid, evs in sessions.items():
        types = [e["event_type"] for e in evs]
        for i, e in enumerate(evs):
            if e["event_type"] == "booking_created":
                assert "search" in types[:i], f"session {sid}: booking before a search"
                booked[e["booking_id"]] = (e["user_id"], sid, e["amount"])
    assert len(booked) == report["sources"]["mobile"]["bookings"] + report["sources"]["web"]["bookings"] > 0

    with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
        cur.execute("SELECT b.booking_id, b.user_id, b.session_id, b.amount, b.status, p.status FROM bookings b "
                    "JOIN payments p ON p.booking_id = b.booking_id WHERE b.booking_id = ANY(%s)", (list(booked),))
        rows = {r[0]: r[1:] for r in cur.fetchall()}
    conn.close()
    assert set(rows) == set(booked)  # every booking an app event names is a row in PostgreSQL
    for booking_id, (user_id, session_id, amount, status, payment) in rows.items():
        assert (user_id, session_id, float(amount)) == booked[booking_id]
        assert (status, payment) in {("completed", "captured"), ("cancelled", "refunded"),
                                     ("cancelled", "voided"), ("cancelled", "failed")}  # drained: all final

    # The workload's transaction log: every payment move legal, and a refund only after a capture.
    history: dict[str, list[str]] = {}
    for line in oplog.read_text().splitlines():
        op = json.loads(line)["value"]
        if op["op"] in OPERATIONS:
            steps = history.setdefault(op["booking_id"], ["authorized"])
            assert steps[-1] == op["payment_from"] and legal(PAYMENT_MOVES, op["payment_from"], op["payment_to"])
            steps.append(op["payment_to"])
    assert set(booked) <= set(history)
    final = {"completed": "captured", "cancelled_after_confirm": "refunded", "cancelled_pending": "voided",
             "payment_failed": "failed"}
    for booking_id, steps in history.items():
        assert steps[-1] == final[plan_for(booking_id).outcome]  # each booking lived its planned life
        if "refunded" in steps:
            assert steps.index("captured") < steps.index("refunded")


class _LateProxy:
    """A TCP forwarder to the broker that starts listening only when ``open()`` is called."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server: socket.socket | None = None

    def open(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def test_broker_unreachable_at_start_is_retried_and_nothing_is_lost(settings: Settings) -> None:
    host, port = settings.kafka_bootstrap.split(",")[0].rsplit(":", 1)
    proxy = _LateProxy((host, int(port)))
    late = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{proxy.port}"})
    sink = KafkaSink(late)
    before = end_offsets(settings, "topic_app_logs")
    marker = f"late-{random.randrange(2**31)}"
    records = [(f"svc-{i % 3}", {
        "log_id": f"{marker}-{i}", "ts": 1_748_764_800_000 + i, "service": f"svc-{i % 3}", "host": "h", "level": "INFO",
        "logger": "it", "message": marker, "trace_id": None, "span_id": None, "user_id": None, "session_id": None,
        "http_method": None, "path": None, "status_code": None, "latency_ms": None, "stack_trace": None,
        "attributes": {}}) for i in range(50)]
    try:
        sink.send("topic_app_logs", records)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # the broker is "down": nothing can be acknowledged
            sink.poll()
            assert sink.counters()["delivered"] == 0
            time.sleep(0.1)
        assert sink.pending() >= 50  # queued (librdkafka counts its own requests too), none failed
        proxy.open()  # the broker comes back
        counters = sink.close(timeout=30)
    finally:
        proxy.close()
    assert counters["delivered"] == 50 and counters["failed"] == 0
    got = [rec["log_id"] for _, rec in read_range(settings, before, end_offsets(settings, "topic_app_logs"),
                                                  topic="topic_app_logs", containing=marker.encode())]
    assert sorted(got) == sorted(str(r["log_id"]) for _, r in records)
