"""make verify without services: truth (recorded by the simulators' recorder) -> expected outputs under the
jobs' rules (windows, watermark, dedup, clamp) -> reconciliation against crafted outputs, which must name
a wrong, a missing and an extra record."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from eventbus.catalog import load_catalog
from lambdas.simulators.scenario import TruthSpec
from lambdas.simulators.truth import JsonLinesPublisher, RunMeta, TruthRecorder
from lambdas.verify.expected import TruthSet, expected_outputs, iso_minute
from lambdas.verify.latency import stage
from lambdas.verify.reading import Msg, read_truth_file
from lambdas.verify.reconcile import reconcile_bookings, reconcile_windows, render
from lambdas.verify.rules import FUNNEL_ENTITY, Rules, Window

T0 = 1_750_000_200_000  # 2025-06-15T15:10Z, a 5-minute boundary (simulated time)
MIN = 60_000
LATER = time.time_ns() // 1_000_000 + 3_600_000  # wall clock an hour on: the run's heartbeat is long past


def _app(i: int, ts: int, event_type: str = "search", session: str = "s-1") -> dict[str, Any]:
    return {"event_id": f"e-{i}", "event_type": event_type, "event_ts": ts, "received_ts": ts + 50, "user_id": "u",
            "session_id": session, "platform": "web", "destination": None}


@pytest.fixture
def truth(tmp_path: Path) -> TruthSet:
    path = tmp_path / "truth.jsonl"
    rec = TruthRecorder(TruthSpec(enabled=True), load_catalog(), JsonLinesPublisher(str(path)),
                        RunMeta("r1", "test", 1, 0, "", T0))
    steps = ["search", "booking_view", "booking_created"]
    for i in range(30):  # minutes 0..29 (six app windows), on time
        rec.delivered("topic_app_events", _app(i, T0 + i * MIN, steps[i % 3], f"s-{i // 3}"))
        rec.delivered("topic_clickstream", {"click_id": f"c-{i}", "event_ts": T0 + i * MIN, "session_id": "s",
                                            "page_url": "/p", "element_id": "b"}, kafka_ts=T0 + i * MIN)
    rec.delivered("topic_app_events", _app(3, T0 + 3 * MIN))  # duplicate of e-3
    rec.delivered("topic_app_events", _app(100, T0 + 29 * MIN - 90_000, "login"))  # 90 s late: counted
    rec.delivered("topic_app_events", _app(101, T0 + MIN, "logout"))  # 28 min late: window closed, excluded
    rec.delivered(None, {"op": "create", "table": "bookings", "booking_id": "bk-1", "to": "pending", "user_id": "u",
                         "amount": 10.0})
    rec.close()
    return TruthSet.from_msgs(read_truth_file(path))


def _outputs(values: dict[str, tuple[int, dict[str, float]]]) -> list[Msg]:
    return [Msg(k, {"event_count": n, "metrics": m, "computed_ts": T0}, T0, 0, i) for i, (k, (n, m)) in
            enumerate(values.items())]


def test_expected_outputs_follow_the_jobs_rules(truth: TruthSet) -> None:
    exp = expected_outputs(truth, Rules.load(), now_ms=LATER, grace_ms=0)
    assert exp.compared["app_events"] == {T0 + k * 5 * MIN for k in range(6)}
    w0 = iso_minute(T0)
    assert exp.values[f"app_events|{w0}|event_type=search"] == (2, {})  # e-0, e-3 (its duplicate once)
    assert exp.values[f"app_events|{w0}|platform=web"] == (5, {})  # the 28-min-late logout is excluded
    assert f"app_events|{w0}|event_type=logout" not in exp.values
    assert exp.values[f"app_events|{iso_minute(T0 + 25 * MIN)}|event_type=login"] == (1, {})  # late, counted
    # funnel of window 0: sessions s-0 (search, view, booked), s-1 (search, view: minutes 3, 4)
    n, m = exp.values[f"app_events_funnel|{w0}|{FUNNEL_ENTITY}"]
    assert (n, m["sessions_view"], m["sessions_booked"]) == (2, 2.0, 1.0)
    # clickstream: 10-minute windows sliding by 5; the first one starts 5 minutes before the truth: skipped
    assert exp.values[f"clickstream|{w0}|page=/p"] == (10, {})
    assert f"clickstream|{iso_minute(T0 - 5 * MIN)}|page=/p" not in exp.values
    assert exp.tallies["app_events_excluded"] == 1 and exp.tallies["app_events_late_counted"] == 1
    assert exp.tallies["duplicates"] == 1 and set(exp.bookings) == {"bk-1"}


def test_a_running_run_only_has_its_closed_windows_compared(truth: TruthSet) -> None:
    run = truth.runs["r1"]
    run["ended"], run["heartbeat_ts"] = False, LATER
    exp = expected_outputs(truth, Rules.load(), now_ms=LATER, grace_ms=MIN)
    # newest event at minute 29; watermark 10 min + grace 1 min: windows ending by minute 18 are closed
    assert exp.compared["app_events"] == {T0, T0 + 5 * MIN, T0 + 10 * MIN}
    assert exp.skipped["app_events: open (not closed yet)"] == 3
    crashed = expected_outputs(truth, Rules.load(), now_ms=LATER + 5 * MIN, grace_ms=MIN)
    assert crashed.skipped["app_events: truth incomplete (a run crashed)"] >= 1


def test_reconcile_names_wrong_missing_and_extra_records(truth: TruthSet) -> None:
    exp = expected_outputs(truth, Rules.load(), now_ms=LATER, grace_ms=0)
    perfect = _outputs(exp.values)
    rows = reconcile_windows(exp, perfect)
    assert all(r.ok and r.compared == r.matched > 0 for r in rows)

    w5 = iso_minute(T0 + 5 * MIN)
    wrong_key = f"app_events|{w5}|event_type=search"
    missing_key = f"clickstream|{w5}|element=b"
    corrupted = [m for m in perfect if m.key != missing_key]
    corrupted.append(Msg(wrong_key, {"event_count": exp.values[wrong_key][0] + 1, "metrics": {}}, T0, 0, 999))
    corrupted.append(Msg(f"app_events|{w5}|event_type=bogus", {"event_count": 1, "metrics": {}}, T0, 0, 1000))
    rows = reconcile_windows(exp, corrupted)
    by = {r.output: r for r in rows}
    assert (by["app event windows"].wrong, by["app event windows"].extra) == (1, 1)
    assert by["clickstream windows"].missing == 1 and by["funnel"].ok
    table = render(rows)
    assert wrong_key in table and missing_key in table and "event_type=bogus" in table


def test_bookings_are_compared_with_their_last_state(truth: TruthSet) -> None:
    exp = expected_outputs(truth, Rules.load(), now_ms=LATER, grace_ms=0)
    state = {"booking_id": "bk-1", "status": "pending", "payment_status": "authorized", "user_id": "u", "amount": 10.0}
    assert reconcile_bookings(exp, [Msg("bk-1", state, T0, 0, 0)]).ok
    row = reconcile_bookings(exp, [Msg("bk-1", {**state, "status": "confirmed"}, T0, 0, 0)])
    assert row.wrong == 1 and "bk-1" in row.diffs[0].line()
    assert reconcile_bookings(exp, [Msg("bk-1", None, T0, 0, 0)]).missing == 1  # a tombstone


def test_windows_and_percentiles() -> None:
    assert Window(600_000, 300_000).starts(T0 + 1) == [T0 - 300_000, T0]
    assert Window(300_000, 300_000).starts(T0 - 1) == [T0 - 300_000]
    s = stage("x", list(range(1, 101)))
    assert (s.n, s.p50_ms, s.p99_ms, s.max_ms) == (100, 50, 99, 100)
    r = Rules.load()
    assert r.late_outcome(T0, T0 + 25 * MIN) == "excluded" and r.late_outcome(T0, T0 + 2 * MIN) == "counted"
    assert r.late_outcome(T0, T0 + 10 * MIN) == "ambiguous"


@pytest.mark.parametrize("metrics", [{}, None, {"sessions_view": float("nan")}, {"sessions_booked": "x"},
                                     {"conversion": float("inf")}], ids=["empty", "none", "nan", "text", "inf"])
def test_a_missing_nan_or_non_numeric_funnel_metric_is_wrong(truth: TruthSet, metrics: dict[str, Any] | None) -> None:
    exp = expected_outputs(truth, Rules.load(), now_ms=LATER, grace_ms=0)
    key = f"app_events_funnel|{iso_minute(T0)}|{FUNNEL_ENTITY}"
    count, want = exp.values[key]
    got = None if metrics is None else ({**want, **metrics} if metrics else {})
    outputs = [m for m in _outputs(exp.values) if m.key != key]
    outputs.append(Msg(key, {"event_count": count, "metrics": got}, T0, 0, 999))
    funnel = {r.output: r for r in reconcile_windows(exp, outputs)}["funnel"]
    assert (funnel.wrong, funnel.ok) == (1, False) and funnel.diffs[0].key == key


def test_a_missing_or_nan_count_or_amount_is_wrong(truth: TruthSet) -> None:
    exp = expected_outputs(truth, Rules.load(), now_ms=LATER, grace_ms=0)
    key = f"app_events|{iso_minute(T0)}|event_type=search"
    values: list[dict[str, Any]] = [{"metrics": {}}, {"event_count": float("nan"), "metrics": {}}]
    for value in values:
        outputs = [m for m in _outputs(exp.values) if m.key != key] + [Msg(key, value, T0, 0, 999)]
        assert {r.output: r for r in reconcile_windows(exp, outputs)}["app event windows"].wrong == 1
    state = {"booking_id": "bk-1", "status": "pending", "payment_status": "authorized", "user_id": "u",
             "amount": float("nan")}
    assert reconcile_bookings(exp, [Msg("bk-1", state, T0, 0, 0)]).wrong == 1


def test_a_booking_before_the_hours_range_is_skipped_for_that_reason(truth: TruthSet) -> None:
    changed = truth.bookings["bk-1"]["changed_ts"]
    exp = expected_outputs(truth, Rules.load(), now_ms=LATER, grace_ms=0, since_ms=changed + 1)
    assert not exp.bookings and exp.skipped["bookings: last changed before the --hours range"] == 1
    assert "bookings: changed recently (not quiet)" not in exp.skipped
    recent = expected_outputs(truth, Rules.load(), now_ms=changed + 1, grace_ms=0, since_ms=changed)
    assert recent.skipped["bookings: changed recently (not quiet)"] == 1
