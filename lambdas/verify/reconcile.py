"""Compare what the pipeline wrote with what the truth expects: one row per output, with matched /
missing / extra / wrong and the first differing keys (expected vs actual), plus the lines that tell
where to look (topic, key).

    >>> rows = reconcile_windows(expected, processed.msgs) + [reconcile_bookings(expected, booking_state.msgs)]
    >>> print(render(rows))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from lambdas.verify.expected import Expected
from lambdas.verify.reading import Msg
from lambdas.verify.rules import APP_JOB, CLICK_JOB, FUNNEL_JOB

PROCESSED = "topic_processed_events"
BOOKING_STATE = "topic_booking_state"
#: output row name -> (topic, job prefix of the key)
WINDOW_OUTPUTS = {"app event windows": APP_JOB, "funnel": FUNNEL_JOB, "clickstream windows": CLICK_JOB}


@dataclass
class Diff:
    key: str
    kind: str  # missing / extra / wrong
    expected: Any = None
    actual: Any = None

    def line(self) -> str:
        if self.kind == "missing":
            return f"missing {self.key} (expected {self.expected})"
        if self.kind == "extra":
            return f"extra {self.key} (got {self.actual})"
        return f"wrong {self.key}: expected {self.expected}, got {self.actual}"


@dataclass
class Row:
    output: str
    topic: str
    compared: int = 0
    matched: int = 0
    missing: int = 0
    extra: int = 0
    wrong: int = 0
    diffs: list[Diff] = field(default_factory=list)  # every one; the table shows the first few
    note: str = ""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.wrong)

    def add(self, d: Diff) -> None:
        setattr(self, d.kind, getattr(self, d.kind) + 1)
        self.diffs.append(d)

    def as_dict(self, show: int) -> dict[str, Any]:
        doc = asdict(self)
        doc["diffs"] = [asdict(d) for d in self.diffs[:max(show, 50)]]
        doc["ok"] = self.ok
        return doc


def last_values(msgs: list[Msg]) -> dict[str, dict[str, Any] | None]:
    """The last value per key (Kafka order per partition: a key lives in one partition)."""
    out: dict[str, dict[str, Any] | None] = {}
    for m in msgs:
        if m.key is not None:
            out[m.key] = m.value
    return out


def _window_start(key: str) -> str:
    parts = key.split("|", 2)
    return parts[1] if len(parts) == 3 else ""


def reconcile_windows(exp: Expected, processed: list[Msg]) -> list[Row]:
    from lambdas.verify.expected import iso_minute

    last = last_values(processed)
    rows = []
    for name, job in WINDOW_OUTPUTS.items():
        row = Row(name, PROCESSED)
        starts = {iso_minute(s) for s in exp.compared.get(job, set())}
        prefix = job + "|"
        for key, (count, metrics) in sorted(exp.values.items()):
            if not key.startswith(prefix):
                continue
            row.compared += 1
            actual = last.get(key)
            if actual is None:
                row.add(Diff(key, "missing", _show(count, metrics)))
                continue
            got = actual.get("event_count")
            got_metrics = actual.get("metrics") or {}
            if not _same(count, got, 0) or any(not _same(v, got_metrics.get(k), 1e-9) for k, v in metrics.items()):
                row.add(Diff(key, "wrong", _show(count, metrics), _show(got, {k: got_metrics.get(k) for k in metrics})))
            else:
                row.matched += 1
        for key, actual in sorted(last.items()):
            if key.startswith(prefix) and _window_start(key) in starts and key not in exp.values and actual is not None:
                row.add(Diff(key, "extra", actual=_show(actual.get("event_count"), {})))
        rows.append(row)
    return rows


def _number(v: Any) -> float | None:
    """``v`` as a finite number; None for a missing, NaN, infinite or non-numeric value (never a match)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _same(want: float, got: Any, tolerance: float) -> bool:
    """``got`` is a finite number within ``tolerance`` of ``want``: a value that is absent, NaN or not a
    number is wrong (``abs(nan - x) > t`` is False, so a plain comparison would call it a match)."""
    g = _number(got)
    return g is not None and abs(g - want) <= tolerance


def _show(count: Any, metrics: dict[str, Any]) -> str:
    if not metrics:
        return str(count)
    return f"{count} " + " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
                                  if k != "conversion")


BOOKING_FIELDS = ("status", "payment_status", "user_id", "amount")


def reconcile_bookings(exp: Expected, booking_state: list[Msg]) -> Row:
    """Quiet bookings of the truth against their last state in topic_booking_state."""
    want = {bid: {f: b.get(f) for f in BOOKING_FIELDS if b.get(f) is not None}
            for bid, b in exp.bookings.items()}
    return _against_last_state(Row("booking status", BOOKING_STATE), want, booking_state)


def reconcile_postgres(rows_pg: dict[str, dict[str, Any]], booking_state: list[Msg]) -> Row:
    """Quiet PostgreSQL booking rows (+ payment status) against topic_booking_state: CDC end to end."""
    return _against_last_state(Row("booking_state vs PostgreSQL", BOOKING_STATE), rows_pg, booking_state)


def _against_last_state(row: Row, expected: dict[str, dict[str, Any]], booking_state: list[Msg]) -> Row:
    """Each expected booking's fields against the last record of its key in topic_booking_state."""
    last = last_values(booking_state)
    for bid, want in sorted(expected.items()):
        row.compared += 1
        actual = last.get(bid)
        if actual is None:
            row.add(Diff(bid, "missing", want))
            continue
        got = {f: actual.get(f) for f in want}
        if any(_differs(want[f], got[f]) for f in want):
            row.add(Diff(bid, "wrong", want, got))
        else:
            row.matched += 1
    return row


def _differs(a: Any, b: Any) -> bool:
    if _number(a) is not None:  # amounts: a NaN or non-numeric actual differs
        return not _same(float(a), b, 0.005)
    return bool(a != b)


def render(rows: list[Row], show: int = 3) -> str:
    head = (f"{'output':<28} {'topic':<24} {'compared':>8} {'matched':>8} {'missing':>8} {'extra':>6} {'wrong':>6}"
            "  first differing keys")
    lines = [head, "-" * len(head)]
    for r in rows:
        first = "; ".join(d.line() for d in r.diffs[:show]) or ("ok" if r.compared else r.note or "nothing to compare")
        lines.append(f"{r.output:<28} {r.topic:<24} {r.compared:>8} {r.matched:>8} {r.missing:>8} {r.extra:>6} "
                     f"{r.wrong:>6}  {first}")
    return "\n".join(lines)
