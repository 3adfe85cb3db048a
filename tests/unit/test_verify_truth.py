"""The simulators' ground truth (lambdas/simulators/truth.py, faults.py): what is recorded for delivered,
duplicated, late, future-dated and refused events, and for bookings — no services needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventbus.catalog import load_catalog
from lambdas.simulators.faults import FaultInjector
from lambdas.simulators.scenario import FaultSpec, TruthSpec
from lambdas.simulators.truth import FUNNEL_STEPS, KINDS, JsonLinesPublisher, RunMeta, TruthRecorder

T0 = 1_750_000_200_000  # a whole minute (and 5-minute window) boundary


def _app(i: int, ts: int, event_type: str = "search", session: str = "s-1", **kw: Any) -> dict[str, Any]:
    return {"event_id": f"e-{i}", "event_type": event_type, "event_ts": ts, "received_ts": 0, "user_id": "u-1",
            "session_id": session, "platform": "ios", "destination": "Da Nang", **kw}


def _click(i: int, ts: int, page: str = "/home") -> dict[str, Any]:
    return {"click_id": f"c-{i}", "event_ts": ts, "session_id": "s-1", "page_url": page, "element_id": "btn"}


def _recorder(tmp_path: Path, late_after_s: float = 60.0) -> tuple[TruthRecorder, Path]:
    path = tmp_path / "truth.jsonl"
    meta = RunMeta("run-1", "test", 7, 0, "", T0)
    return TruthRecorder(TruthSpec(enabled=True, late_after_s=late_after_s), load_catalog(),
                         JsonLinesPublisher(str(path)), meta), path


def _last(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        out[doc["key"]] = doc["value"]
    return out


def test_delivered_events_are_counted_once_per_id_in_their_minute(tmp_path: Path) -> None:
    rec, path = _recorder(tmp_path)
    for i in range(3):
        rec.delivered("topic_app_events", _app(i, T0 + i * 1000), answered_ms=T0 + 5000)
    rec.delivered("topic_app_events", _app(1, T0 + 1000), answered_ms=T0 + 5000)  # a re-send
    rec.delivered("topic_app_events", _app(9, T0 + 61_000, "booking_view"), answered_ms=T0 + 62_000)
    rec.close()
    truth = _last(path)
    first = truth["app_events|2025-06-15T15:10Z|run-1"]
    assert first["counts"] == {"event_type=search": 3, "platform=ios": 3, "destination=Da Nang": 3}
    assert first["duplicates"] == 1 and first["sessions"] == {"search": ["s-1"]}
    assert truth["app_events|2025-06-15T15:11Z|run-1"]["sessions"] == {"booking_view": ["s-1"]}
    run = truth["run|run-1"]["run"]
    assert run["ended"] is True and run["counters"]["app_events_delivered"] == 4
    assert run["covered_to"]["app_events"] == T0 + 61_000


def test_late_events_are_kept_one_by_one_with_the_newest_time_seen(tmp_path: Path) -> None:
    rec, path = _recorder(tmp_path)
    rec.delivered("topic_app_events", _app(1, T0 + 30 * 60_000), answered_ms=T0 + 30 * 60_000)
    rec.delivered("topic_app_events", _app(2, T0 + 29 * 60_000 + 30_000), answered_ms=T0 + 30 * 60_000)  # 30 s
    rec.delivered("topic_app_events", _app(3, T0, "booking_created"), answered_ms=T0 + 30 * 60_000)  # 30 min late
    rec.close()
    truth = _last(path)
    assert truth["app_events|2025-06-15T15:39Z|run-1"]["late"] == []  # within late_after_s: just counted
    late = truth["app_events|2025-06-15T15:10Z|run-1"]
    assert late["counts"] == {} and len(late["late"]) == 1
    assert late["late"][0]["max_seen_ts"] == T0 + 30 * 60_000
    assert late["late"][0]["funnel_step"] == "booking_created" and late["late"][0]["session_id"] == "s-1"


def test_clickstream_future_events_are_clamped_to_kafka_time_plus_skew(tmp_path: Path) -> None:
    rec, path = _recorder(tmp_path)
    skew_ms = load_catalog().get("topic_clickstream").event_time.max_future_skew_ms  # type: ignore[union-attr]
    rec.delivered("topic_clickstream", _click(1, T0 + 3_600_000), kafka_ts=T0)
    rec.close()
    truth = _last(path)
    bucket = (T0 + skew_ms) - (T0 + skew_ms) % 60_000
    rows = [v for v in truth.values() if v["kind"] == "clickstream"]
    assert [(r["bucket_start"], r["clamped"], r["counts"]) for r in rows] == [
        (bucket, 1, {"page=/home": 1, "element=btn": 1})]


def test_refused_events_are_not_counted_and_bookings_keep_their_last_committed_state(tmp_path: Path) -> None:
    rec, path = _recorder(tmp_path)
    rec.refused("topic_app_events", _app(1, T0 + 86_400_000), answered_ms=T0)
    rec.delivered(None, {"op": "create", "table": "bookings", "key": "bk-1", "to": "pending", "booking_id": "bk-1",
                         "user_id": "u-1", "amount": 1200.0, "currency": "VND"})
    rec.delivered(None, {"op": "confirm", "table": "bookings", "key": "bk-1", "from": "pending", "to": "confirmed",
                         "booking_id": "bk-1", "payment_to": "captured"})
    rec.delivered(None, {"op": "signup", "table": "users", "key": "u-2", "to": "created"})
    rec.close()
    truth = _last(path)
    assert truth["app_events|2025-06-15T15:10Z|run-1"]["refused"] == 1
    assert truth["app_events|2025-06-15T15:10Z|run-1"]["counts"] == {}
    b = truth["booking|bk-1"]["booking"]
    assert (b["status"], b["payment_status"], b["user_id"], b["amount"]) == ("confirmed", "captured", "u-1", 1200.0)
    assert not [k for k in truth if "u-2" in k]


def test_fault_injection_is_seeded_and_near_its_shares() -> None:
    spec = FaultSpec(duplicates=0.01, late=0.02, future=0.002)
    batches = []
    for _ in range(2):
        inj = FaultInjector(spec, load_catalog(), "mobile", seed=7)
        batch = [(f"u-{i}", _app(i, T0 + i)) for i in range(20_000)]
        batches.append(inj.apply("topic_app_events", batch))
    assert [r["event_ts"] for _, r in batches[0]] == [r["event_ts"] for _, r in batches[1]]
    n = inj.stats()
    assert 150 <= n["injected_duplicates"] <= 250 and len(batches[0]) == 20_000 + n["injected_duplicates"]
    assert 250 <= n["injected_late_within"] + n["injected_late_beyond"] <= 550 and n["injected_late_beyond"] >= 50
    assert 20 <= n["injected_future"] <= 60 and len(inj.future_ids) == n["injected_future"]
    late = [T0 + int(r["event_id"][2:]) - r["event_ts"] for _, r in batches[0]]
    assert all(d == 0 or 20_000 <= d <= 150_000 or 1_500_000 <= d <= 2_700_000 or d < -300_000 for d in late)
    assert FaultInjector(spec, load_catalog(), "oltp", 7).apply(None, [("k", {"x": 1})]) == [("k", {"x": 1})]


def test_truth_counts_what_the_jobs_compute() -> None:
    """The simulators do not import the jobs: their dimensions and funnel are checked here instead."""
    from emr_jobs.app_events import DIMENSIONS, FUNNEL
    from lambdas.verify.rules import FUNNEL_STEPS as VERIFY_FUNNEL

    assert tuple(name for name, _ in KINDS["topic_app_events"][1]) == DIMENSIONS
    assert FUNNEL_STEPS == FUNNEL == VERIFY_FUNNEL


def test_the_gateway_sink_tells_the_truth_what_was_accepted_and_what_was_refused_on_purpose(
        tmp_path: Path) -> None:
    from lambdas.simulators.sinks import GatewaySink
    from tests.unit.test_simulators_sinks import ScriptedGateway

    gw = ScriptedGateway()
    try:
        rec, path = _recorder(tmp_path)
        sink = GatewaySink(gw.url, "k")
        sink.tap, sink.planned_refusals = rec, {"e-1"}
        gw.script.append((200, {"accepted": 1, "rejected": 2, "failed": 0, "results": [
            {"index": 0, "status": "accepted"}, {"index": 1, "status": "rejected", "reason": "event_ts: ahead"},
            {"index": 2, "status": "rejected", "reason": "bad"}]}, {}))
        sink.send("topic_app_events", [("u", _app(0, T0)), ("u", _app(1, T0 + 86_400_000)), ("u", _app(2, T0))])
        counters = sink.close()
        rec.close()
    finally:
        gw.close()
    assert (counters["delivered"], counters["refused"], counters["rejected"]) == (1, 1, 1)
    run = _last(path)["run|run-1"]["run"]["counters"]
    assert run["app_events_delivered"] == 1 and run["app_events_refused"] == 1


def test_lake_rows_are_distinct_offsets_per_hour_partition_with_their_key(tmp_path: Path) -> None:
    from collections import Counter

    import pyarrow as pa
    import pyarrow.parquet as pq

    from eventbus.settings import Settings
    from lambdas.verify.lake import lake_rows

    for hour, rows in (("08", [(0, 1), (0, 2), (1, 1)]), ("09", [(0, 3), (0, 3)])):  # a replayed batch
        folder = tmp_path / "topic=topic_app_logs" / "date=2026-12-04" / f"hour={hour}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"kafka_partition": [p for p, _ in rows], "kafka_offset": [o for _, o in rows],
                                 "log_id": [f"l{p}-{o}" for p, o in rows]}), folder / "part-0.parquet")
    lake = lake_rows(str(tmp_path), "topic_app_logs", Settings(), key="log_id")
    assert Counter(h for h, _ in lake.values()) == {"2026-12-04T08": 3, "2026-12-04T09": 1}
    assert lake[(0, 3)] == ("2026-12-04T09", "l0-3")
    assert lake_rows(str(tmp_path), "topic_app_logs", Settings())[(0, 3)] == ("2026-12-04T09", None)
    assert lake_rows(str(tmp_path), "topic_clickstream", Settings()) == {}


def test_a_repeat_the_lake_dropped_is_not_missing_but_an_unkeyed_gap_is() -> None:
    from lambdas.verify.lake import expected_hours

    kafka = {(0, 1): ("h1", "r-a"), (0, 2): ("h1", "r-a"), (0, 3): ("h2", "r-a"),  # one record, published 3x
             (1, 1): ("h1", "r-b"), (1, 2): ("h2", "r-c")}
    lake = {(0, 1): ("h1", "r-a"), (1, 1): ("h1", "r-b")}  # r-c never reached the lake
    want, repeats = expected_hours(kafka, lake, dedup=True)
    assert (dict(want), repeats) == ({"h1": 2, "h2": 1}, 2)  # h2 still wants r-c: reported missing
    want, repeats = expected_hours(kafka, lake, dedup=False)  # a topic without dedup_key: every record
    assert (dict(want), repeats) == ({"h1": 3, "h2": 2}, 0)
