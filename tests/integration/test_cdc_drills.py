"""Fault drills (`make drill-cdc`): the relay under write load loses no committed change when

* it is SIGKILLed mid-stream and restarted, and
* Kafka is stopped for 30 s and started again (the relay waits; nothing is dropped).

Ground truth is the writer's own record of every committed (id, version) and the table itself;
duplicates (at-least-once replays after the kill) are counted, reported and written to
``bench/results/cdc_drills.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from eventbus.settings import Settings
from local.stack.health import wait_until
from tests.support.cdc import ROOT, Record, RelayProcess, Scratch, Writer, wait_caught_up

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
