"""End-to-end latency per stage, from the records themselves (p50 / p99 per stage).

App events of the compared windows: ``event_ts`` (client) -> ``received_ts`` (gateway) -> Kafka timestamp
(the gateway's produce, CreateTime) -> the first emission of the event's window row with ``computed_ts``
at or after that append (the job's micro-batch and sink); and per window, its end -> the first emission after it.
CDC: commit (``source.ts_ms``) -> Kafka timestamp of the change -> the first ``topic_booking_state``
record of that booking appended at or after it.

    >>> stages = app_latency(app_events.msgs, processed.msgs, rules) + cdc_latency(cdc.msgs, booking_state.msgs)
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.verify.expected import iso_minute
from lambdas.verify.reading import Msg
from lambdas.verify.rules import APP_JOB, Rules


@dataclass
class Stage:
    name: str
    n: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    def line(self) -> str:
        if not self.n:
            return f"{self.name:<44} {'-':>8} {'-':>10} {'-':>10} {'-':>10}"
        return (f"{self.name:<44} {self.n:>8,} {self.p50_ms / 1000:>9.2f}s {self.p99_ms / 1000:>9.2f}s "  # type: ignore[operator]
                f"{self.max_ms / 1000:>9.2f}s")  # type: ignore[operator]


def _ms(v: Any) -> int:
    return int(v.timestamp() * 1000) if isinstance(v, datetime) else int(v)


def stage(name: str, values: Sequence[float]) -> Stage:
    if not values:
        return Stage(name, 0, None, None, None)
    v = sorted(values)

    def pct(q: float) -> float:  # nearest rank
        return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))]

    return Stage(name, len(v), pct(0.50), pct(0.99), v[-1])


def emissions(msgs: list[Msg]) -> dict[str, list[int]]:
    """Output key -> sorted emission times (``computed_ts`` of processed events, else the Kafka timestamp)."""
    out: dict[str, list[int]] = defaultdict(list)
    for m in msgs:
        if m.key is not None and m.value is not None:
            out[m.key].append(_ms(m.value["computed_ts"]) if "computed_ts" in m.value else m.ts)
    for times in out.values():
        times.sort()
    return out


def _first_at_or_after(times: list[int] | None, t: int) -> int | None:
    if not times:
        return None
    i = bisect.bisect_left(times, t)
    return times[i] if i < len(times) else None


def app_latency(app_events: list[Msg], processed: list[Msg], rules: Rules, skew_ms: int,
                window_starts: set[int] | None = None) -> list[Stage]:
    out = emissions(processed)
    win = rules.windows["app_events"]
    client, gateway, to_window = [], [], []
    for m in app_events:
        v = m.value
        if v is None:
            continue
        ev, rc = _ms(v["event_ts"]), _ms(v["received_ts"])
        eff = min(ev, rc + skew_ms)
        starts = win.starts(eff)
        if window_starts is not None and not window_starts.intersection(starts):
            continue  # not the compared traffic (e.g. another producer's replayed history)
        client.append(rc - ev)
        gateway.append(m.ts - rc)
        for w in starts:
            first = _first_at_or_after(out.get(f"{APP_JOB}|{iso_minute(w)}|event_type={v['event_type']}"), m.ts)
            if first is not None:
                to_window.append(first - m.ts)
    close = []
    for key, times in out.items():
        parts = key.split("|", 2)
        if parts[0] != APP_JOB or len(parts) != 3 or not parts[2].startswith("event_type="):
            continue
        start = _parse_iso(parts[1])
        if start is None or (window_starts is not None and start not in window_starts):
            continue
        first = _first_at_or_after(times, start + win.size_ms)
        if first is not None:
            close.append(first - (start + win.size_ms))
    return [stage("app: event_ts -> received_ts (client->gateway)", client),
            stage("app: received_ts -> Kafka append", gateway),
            stage("app: Kafka append -> window row emitted", to_window),
            stage("app: window end -> first emission after it", close)]


def cdc_latency(cdc: list[Msg], booking_state: list[Msg]) -> list[Stage]:
    out: dict[str, list[int]] = defaultdict(list)
    for m in booking_state:
        if m.key is not None:
            out[m.key].append(m.ts)
    for times in out.values():
        times.sort()
    commit, to_state = [], []
    for m in cdc:
        v = m.value
        if v is None or v["source"].get("table") not in ("bookings", "payments") or v.get("op") == "t":
            continue
        commit_ms = v["source"].get("ts_ms")
        if commit_ms is not None:
            commit.append(m.ts - _ms(commit_ms))
        row = v.get("after") or v.get("before") or {}
        first = _first_at_or_after(out.get(str(row.get("booking_id"))), m.ts)
        if first is not None:
            to_state.append(first - m.ts)
    return [stage("cdc: commit -> Kafka append", commit), stage("cdc: Kafka append -> booking_state", to_state)]


def _parse_iso(text: str) -> int | None:
    try:
        return int(datetime.strptime(text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        return None


def render(stages: list[Stage]) -> str:
    head = f"{'stage':<44} {'n':>8} {'p50':>10} {'p99':>10} {'max':>10}"
    return "\n".join([head, "-" * len(head), *(s.line() for s in stages)])
