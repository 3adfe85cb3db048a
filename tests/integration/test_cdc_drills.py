"""Fault drills (`make drill-cdc`): the relay under write load loses no committed change when

* it is SIGKILLed mid-stream and restarted,
* Kafka is stopped for 30 s and started again (the relay waits; nothing is dropped), and
* its producer loses what it queued (librdkafka purges the queue, as it does on its fatal error
  after a broker restart): the relay replaces the producer and replays from the slot, in-process.

Ground truth is the writer's own record of every committed (id, version) and the table itself;
duplicates (at-least-once replays after the kill) are counted, reported and written to
``bench/results/cdc_drills.json``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from eventbus.settings import Settings
from lambdas.cdc.exceptions import DeliveryFailed
from lambdas.cdc.inflight import InFlight, Unit
from lambdas.cdc.sink import EnvelopeSink
from local.stack.health import wait_until
from tests.support.cdc import ROOT, Record, RelayProcess, Scratch, Writer, lsn_int, relay_thread, wait_caught_up

RESULTS = ROOT / "bench" / "results" / "cdc_drills.json"
pytestmark = pytest.mark.slow


@pytest.fixture
def settings() -> Settings:
    return Settings(profile="local")


@pytest.fixture
def scratch(settings: Settings) -> Iterator[Scratch]:
    s = Scratch(settings)
    yield s
    s.cleanup()


def verify(scratch: Scratch, writer: Writer, records: list[Record]) -> dict[str, Any]:
    """Every committed change is in Kafka; per key, the last record is the table's row."""
    seen = [(r.row["id"], r.row["v"]) for r in records]
    distinct = set(seen)
    missing = writer.committed - distinct
    assert not missing, f"{len(missing)} committed change(s) missing from Kafka, e.g. {sorted(missing)[:5]}"
    assert distinct == writer.committed, f"unexpected records: {sorted(distinct - writer.committed)[:5]}"
    last: dict[str, int] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        last[r.row["id"]] = r.row["v"]
    table = dict(scratch.sql(f"SELECT id, v FROM {scratch.tables[0]}"))
    assert last == table, "Kafka's last value per key differs from the table"
    return {
        "committed_changes": len(writer.committed),
        "transactions": writer.transactions,
        "records_in_kafka": len(records),
        "duplicates": len(seen) - len(distinct),
        "keys": len(table),
    }


def report(name: str, result: dict[str, Any]) -> None:
    print(f"\ncdc drill {name}: " + ", ".join(f"{k}={v}" for k, v in result.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    existing[name] = {**result, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.write_text(json.dumps(existing, indent=2))


def test_sigkill_mid_stream_then_restart_loses_nothing(scratch: Scratch, settings: Settings, tmp_path: Path) -> None:
    writer = Writer(settings, scratch.tables[0], rate_tx=150, batch=10)  # ~1,500 changes/s
    relay = RelayProcess(scratch.cli(), tmp_path / "relay.log")
    try:
        relay.wait_streaming()
        writer.start()
        wait_until(lambda: writer.transactions >= 400, 30, "write load before the kill")
        acked_before = len(scratch.records(timeout=5))
        relay.kill()  # SIGKILL: no flush, no final feedback
        killed_at = writer.transactions
        wait_until(lambda: writer.transactions >= killed_at + 300, 30, "writes while the relay is down")
        relay = RelayProcess(scratch.cli(), tmp_path / "relay2.log")
        relay.wait_streaming()
        wait_until(lambda: writer.transactions >= killed_at + 700, 30, "writes after the restart")
        writer.finish()
        wait_caught_up(scratch, relay=relay)
        assert relay.stop() == 0
    finally:
        writer.stop_event.set()
        if relay.proc.poll() is None:
            relay.kill()
    assert acked_before > 0
    result = verify(scratch, writer, scratch.records(settle=2.0))
    report("sigkill_restart", {**result, "records_before_kill": acked_before})


def test_kafka_down_30s_under_load_loses_nothing(
    scratch: Scratch, settings: Settings, stack: ModuleType, tmp_path: Path
) -> None:
    writer = Writer(settings, scratch.tables[0], rate_tx=100, batch=10)  # ~1,000 changes/s
    relay = RelayProcess(scratch.cli(), tmp_path / "relay.log")
    outage = 0.0
    try:
        relay.wait_streaming()
        writer.start()
        wait_until(lambda: writer.transactions >= 200, 30, "write load before the outage")
        stack.stop_program("kafka")
        down_at = time.monotonic()
        try:
            wait_until(lambda: time.monotonic() - down_at >= 3, 5, "the outage to begin")
            frozen = scratch.slot_state()
            wait_until(lambda: time.monotonic() - down_at >= 30 or relay.proc.poll() is not None, 40, "30 s outage")
            assert relay.proc.poll() is None, f"relay exited during the outage:\n{relay.log_text()[-2000:]}"
            written_during = writer.transactions
            # nothing was acknowledged, so nothing was confirmed: the slot holds every change since
            assert frozen is not None and scratch.slot_state()[1] == frozen[1]  # type: ignore[index]
        finally:
            stack.start_program("kafka")
            outage = time.monotonic() - down_at
        wait_until(lambda: writer.transactions >= written_during + 200, 30, "writes after the outage")
        writer.finish()
        wait_caught_up(scratch, timeout=120, relay=relay)
        assert relay.stop() == 0
    finally:
        writer.stop_event.set()
        if relay.proc.poll() is None:
            relay.kill()
    lines = relay.log_text().splitlines()
    errors = [ln for ln in lines if '"level": "ERROR"' in ln]
    assert errors == [], errors[:3]
    # the lag gauges saw the outage: ms behind and bytes behind both grew while Kafka was away
    status = [json.loads(ln) for ln in lines if '"msg": "cdc status"' in ln]
    assert max(s["lag_ms"] for s in status) > 10_000 and max(s["lag_bytes"] for s in status) > 100_000
    result = verify(scratch, writer, scratch.records(settle=2.0))
    report("kafka_down_30s", {**result, "outage_s": round(outage, 1)})


class PurgedOnce(EnvelopeSink):
    """The real sink, whose producer drops its queue once, after ``after`` records: librdkafka's own
    purge, so the delivery reports are the ones a fatal error produces (rdkafka.c purges the queue)."""

    def __init__(self, *args: Any, after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after, self.sent, self.purged = after, 0, False

    def send_encoded(self, key: bytes, value: bytes, unit: Unit) -> None:
        super().send_encoded(key, value, unit)
        self.sent += 1
        if self.sent == self.after:
            self.producer.raw.purge(in_queue=True, in_flight=False)
            self.purged = True


def test_a_producer_that_lost_its_queue_is_replaced_and_the_slot_replays(scratch: Scratch, settings: Settings) -> None:
    writer = Writer(settings, scratch.tables[0], rate_tx=50, batch=10)  # ~500 changes/s
    sinks: list[EnvelopeSink] = []

    def sink_factory(inflight: InFlight) -> EnvelopeSink:
        kw: dict[str, Any] = dict(topic="topic_cdc_changes", kafka_topic=scratch.topic)
        if not sinks:  # the first producer lingers 2 s, so the purge finds records queued
            sink: EnvelopeSink = PurgedOnce(settings, inflight, after=2000, producer_overrides={"linger.ms": 2000},
                                            **kw)
        else:
            sink = EnvelopeSink(settings, inflight, **kw)
        sinks.append(sink)
        return sink

    with relay_thread(scratch.config(), settings, sink_factory=sink_factory) as relay:
        writer.start()
        wait_until(lambda: len(sinks) >= 2 and writer.transactions >= 600, 60, "a second producer, under load")
        writer.finish()
        wait_caught_up(scratch, timeout=60)
    first = sinks[0]
    assert isinstance(first, PurgedOnce) and first.purged and first.producer.failed > 0
    assert relay.metrics.producer_replacements == 1 and len(sinks) == 2
    result = verify(scratch, writer, scratch.records(settle=2.0))
    assert result["duplicates"] < first.sent  # replayed from the slot's confirmed position, not from the start
    report("producer_replaced", {**result, "purged_records": first.producer.failed})


def test_a_record_kafka_refuses_for_itself_still_stops_the_relay(scratch: Scratch, settings: Settings) -> None:
    """Not every failure is transient: a record too large for the producer stops the relay (exit 1)
    without confirming it, instead of replaying the same refusal forever."""
    def sink_factory(inflight: InFlight) -> EnvelopeSink:
        return EnvelopeSink(settings, inflight, topic="topic_cdc_changes", kafka_topic=scratch.topic,
                            producer_overrides={"message.max.bytes": 1000})

    def relay_running() -> bool:
        return any(t.name == "cdc-relay" and t.is_alive() for t in threading.enumerate())

    relay_cm = relay_thread(scratch.config(snapshot=False), settings, sink_factory=sink_factory)
    with pytest.raises(DeliveryFailed, match="too large") as failed, relay_cm as relay:
        scratch.sql(f"INSERT INTO {scratch.tables[0]} (id, note) VALUES ('big', repeat('x', 5000))")
        written = lsn_int(scratch.sql("SELECT pg_current_wal_lsn()::text")[0][0])
        wait_until(lambda: not relay_running(), 30, "the relay to stop")
    assert not failed.value.transient and relay.metrics.producer_replacements == 0
    assert lsn_int(scratch.slot_state()[1]) < written  # type: ignore[index]  # the refused change is not confirmed
