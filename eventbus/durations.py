"""The one parser of the duration strings the Spark jobs take (``EB_SPARK_WATERMARK``, ``EB_SPARK_STATE_TIMEOUT``)
and that verify reads back to know when a window has closed.

    >>> duration_ms("10 minutes"), duration_ms("1 day"), duration_ms("45")
    (600000, 86400000, 45000)
"""

from __future__ import annotations

import math

DURATION_UNITS = {"second": 1_000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000}


def duration_ms(text: str) -> int:
    """``"<number> <unit>"`` (unit: second/minute/hour/day, singular or plural; none = seconds) -> milliseconds;
    ValueError saying what is expected for anything else (a negative, infinite or non-numeric amount too)."""
    amount, _, unit = text.strip().partition(" ")
    per = DURATION_UNITS.get(unit.strip().rstrip("s") or "second")
    try:
        n = float(amount)
    except ValueError:
        n = math.nan
    if per is None or not math.isfinite(n) or n < 0:
        raise ValueError(f"{text!r} is not a duration: expected '<number> <unit>', unit one of "
                         f"{', '.join(u + '(s)' for u in DURATION_UNITS)} (e.g. '10 minutes')")
    return int(n * per)
