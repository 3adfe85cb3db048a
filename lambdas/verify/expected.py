"""From the truth to the outputs a correct pipeline has for every closed window and quiet booking.

The truth is buckets (one minute of effective event time, per run) plus late events kept one by one
(``lambdas/simulators/truth.py``). Here they are summed into the jobs' windows (``rules.Rules``), late
events counted or excluded by the watermark rule, and a window is only expected when it is closed for
every run that delivered into it — a run still going must be past the window's end by the watermark plus
the grace; a run that ended published everything; a run that crashed (stale heartbeat, not ended) may have
lost its last ``publish_every_s``, so windows near its end are skipped as "truth incomplete".

    >>> truth = TruthSet.from_msgs(read_topic(settings, "topic_truth").msgs, topic_prefix="")
    >>> exp = expected_outputs(truth, Rules.load(), now_ms=..., grace_ms=60_000, stale_ms=60_000)
    >>> exp.values["app_events|2026-12-04T16:40Z|event_type=search"]
    (12, {})
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lambdas.verify.reading import Msg
from lambdas.verify.rules import APP_JOB, CLICK_JOB, FUNNEL_ENTITY, FUNNEL_JOB, FUNNEL_STEPS, Rules

Value = tuple[int, dict[str, float]]


def iso_minute(ms: int) -> str:
    """The window-start format of the jobs' keys (emr_jobs/transforms.py ``ISO_MINUTE``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class TruthSet:
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)  # run_id -> RunTruth
    buckets: dict[str, dict[int, list[dict[str, Any]]]] = field(default_factory=dict)  # kind -> start -> records
    bookings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_msgs(cls, msgs: list[Msg], topic_prefix: str = "") -> TruthSet:
        """The last value per key; only runs that wrote to the same topic set (``topic_prefix``)."""
        last: dict[str, dict[str, Any]] = {}
        for m in msgs:
            if m.key is not None:
                if m.value is None:
                    last.pop(m.key, None)
                else:
                    last[m.key] = m.value
        out = cls()
        for v in last.values():
            if v["kind"] == "run" and v.get("run") and v["run"].get("topic_prefix", "") == topic_prefix:
                out.runs[v["run_id"]] = v["run"]
        for v in last.values():
            if v["run_id"] not in out.runs:
                continue
            if v["kind"] == "booking" and v.get("booking"):
                b = v["booking"]
                cur = out.bookings.get(b["booking_id"])
                if cur is None or b["changed_ts"] >= cur["changed_ts"]:
                    out.bookings[b["booking_id"]] = b
            elif v.get("bucket_start") is not None:
                out.buckets.setdefault(v["kind"], {}).setdefault(_ms(v["bucket_start"]), []).append(v)
        return out


@dataclass
class Expected:
    values: dict[str, Value] = field(default_factory=dict)  # output key -> (event_count, metrics)
    compared: dict[str, set[int]] = field(default_factory=dict)  # job -> window starts compared
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> windows not compared
    tallies: Counter[str] = field(default_factory=Counter)  # excluded / late_counted / duplicates / refused / clamped
    bookings: dict[str, dict[str, Any]] = field(default_factory=dict)  # quiet bookings
    span: tuple[int, int] | None = None  # event time of the compared windows


def _ms(v: Any) -> int:
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else int(v)


def _limits(truth: TruthSet, kind: str, now_ms: int, wm_ms: int, grace_ms: int, stale_ms: int,
            ) -> list[tuple[int, int, int, str]]:
    """Per run: (covered_from, covered_to, compare windows ending at or before this, state)."""
    out = []
    for run in truth.runs.values():
        if kind not in run.get("covered_to", {}):
            continue
        lo, hi = int(run["covered_from"].get(kind, 0)), int(run["covered_to"][kind])
        if run["ended"]:  # everything it delivered is published; after the grace the jobs have emitted it too
            limit, state = (2**62 if now_ms - _ms(run["heartbeat_ts"]) >= grace_ms else hi - wm_ms - grace_ms), "ended"
        elif now_ms - _ms(run["heartbeat_ts"]) > stale_ms:
            limit, state = hi - 60_000, "crashed"
        else:
            limit, state = hi - wm_ms - grace_ms, "running"
        out.append((lo, hi, limit, state))
    return out


def expected_outputs(truth: TruthSet, rules: Rules, now_ms: int, grace_ms: int = 60_000,
                     stale_ms: int = 60_000, since_ms: int | None = None, booking_quiet_ms: int = 90_000) -> Expected:
    exp = Expected()
    spans: list[int] = []
    for kind, buckets in truth.buckets.items():
        win = rules.windows.get(kind)
        if win is None:
            continue
        runs = _limits(truth, kind, now_ms, rules.watermark_ms, grace_ms, stale_ms)
        jobs = (APP_JOB, FUNNEL_JOB) if kind == "app_events" else (CLICK_JOB,)
        by_window: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for start, recs in buckets.items():
            for w in win.starts(start):
                by_window[w].extend(recs)
            for r in recs:
                exp.tallies["duplicates"] += r.get("duplicates", 0)
                exp.tallies["refused"] += r.get("refused", 0)
                exp.tallies["clamped"] += r.get("clamped", 0)
        # late events are kept in the bucket of their own time, so they reach each of their windows above
        for w_start in sorted(by_window):
            w_end = w_start + win.size_ms
            if since_ms is not None and w_end < since_ms:
                continue
            reason = _not_comparable(w_start, w_end, runs)
            if reason:
                exp.skipped[f"{kind}: {reason}"] += 1
                continue
            counts: Counter[str] = Counter()
            sessions: dict[str, set[str]] = {s: set() for s in FUNNEL_STEPS}
            ambiguous = False
            for r in by_window[w_start]:
                b0 = _ms(r["bucket_start"])
                if not (w_start <= b0 < w_end):
                    continue
                counts.update(r.get("counts") or {})
                for step, ids in (r.get("sessions") or {}).items():
                    sessions.setdefault(step, set()).update(ids)
                for late in r.get("late") or []:
                    outcome = rules.late_outcome(w_end, _ms(late["max_seen_ts"]))
                    if outcome == "ambiguous":
                        ambiguous = True
                    elif outcome == "excluded":
                        exp.tallies[f"{kind}_excluded"] += 1
                    else:
                        exp.tallies[f"{kind}_late_counted"] += 1
                        counts.update(late["entities"])
                        if late.get("funnel_step") and late.get("session_id"):
                            sessions.setdefault(late["funnel_step"], set()).add(late["session_id"])
            if ambiguous:
                exp.skipped[f"{kind}: a late event at the watermark's edge"] += 1
                continue
            for job in jobs:
                exp.compared.setdefault(job, set()).add(w_start)
            spans += [w_start, w_end]
            iso = iso_minute(w_start)
            for entity, n in counts.items():
                if n:
                    exp.values[f"{jobs[0]}|{iso}|{entity}"] = (n, {})
            if kind == "app_events" and +counts:
                searched = sessions["search"]
                viewed = searched & sessions["booking_view"]
                booked = viewed & sessions["booking_created"]
                n0, n1, n2 = len(searched), len(viewed), len(booked)
                exp.values[f"{FUNNEL_JOB}|{iso}|{FUNNEL_ENTITY}"] = (n0, {
                    "sessions_search": float(n0), "sessions_view": float(n1), "sessions_booked": float(n2),
                    "conversion": n2 / n0 if n0 else 0.0})
    exp.span = (min(spans), max(spans)) if spans else None
    for bid, b in truth.bookings.items():
        changed = _ms(b["changed_ts"])
        if since_ms is not None and changed < since_ms:
            exp.skipped["bookings: last changed before the --hours range"] += 1
        elif now_ms - changed < booking_quiet_ms:
            exp.skipped["bookings: changed recently (not quiet)"] += 1
        else:
            exp.bookings[bid] = b
    return exp


def _not_comparable(w_start: int, w_end: int, runs: list[tuple[int, int, int, str]]) -> str | None:
    overlapping = [r for r in runs if r[0] < w_end and r[1] >= w_start]
    if not any(lo <= w_start for lo, _hi, _lim, _s in overlapping):
        return "before the truth began (no run covers its start)"
    for _lo, _hi, limit, state in overlapping:
        if w_end > limit:
            return "truth incomplete (a run crashed)" if state == "crashed" else "open (not closed yet)"
    return None
