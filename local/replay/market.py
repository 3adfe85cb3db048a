"""Frankfurter ``/v1/{date}``: ECB reference rates only (lineofflight/frankfurter ``lib/versions/v1.rb``).

As the v1 code does: a weekend or TARGET holiday answers the previous business day's rates with *that* date;
a symbol the ECB does not publish (VND, TWD, ...) is left out of ``rates``; when nothing is left, or the
base itself is unknown, the answer is **404** ``{"message": "not found"}`` (#594, #169, #28); a bad
date or a base equal to the only symbol is a 422. Sources: local/replay/README.md.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from local.replay.base import Answer, Request, recording, rng

FIRST_DAY = date(1999, 1, 4)


def business_day(day: date) -> date:
    """The ECB publishes on TARGET business days: not weekends, 1 Jan, 1 May, 25/26 Dec (Easter omitted)."""
    while day.weekday() >= 5 or (day.month, day.day) in {(1, 1), (5, 1), (12, 25), (12, 26)}:
        day -= timedelta(days=1)
    return day


def rates(day_text: str, req: Request) -> Answer:
    rec, q = recording("frankfurter"), req.query
    try:
        asked = date.fromisoformat(day_text)
    except ValueError:
        return Answer(422, {"message": "invalid date"})
    base = (q.get("base") or q.get("from") or "EUR").upper()
    symbols = [s for s in (q.get("symbols") or q.get("to") or "").upper().split(",") if s]
    if symbols == [base]:
        return Answer(422, {"message": "bad currency pair"})
    day = business_day(min(asked, req.today))
    eur = {"EUR": 1.0, **{c: _eur_rate(c, r, day, rec) for c, r in rec["eur_rates"].items()}}
    if day < FIRST_DAY or base not in eur:
        return Answer(404, {"message": "not found"})
    quotes = [s for s in (symbols or sorted(eur)) if s in eur and s != base]  # unknown symbols: left out
    if not quotes:
        return Answer(404, {"message": "not found"})
    out = {s: _round(eur[s] / eur[base]) for s in sorted(quotes)}
    return Answer(200, {"amount": 1.0, "base": base, "date": day.isoformat(), "rates": out})


def _eur_rate(currency: str, reference: float, day: date, rec: dict) -> float:
    days = (day - date.fromisoformat(rec["reference_date"])).days
    drift = 0.025 * math.sin(days / 41 + rng("fx-phase", currency).uniform(0, 6.28))
    return reference * math.exp(drift + rng("fx", currency, day).gauss(0, rec["daily_volatility"]))


def _round(value: float) -> float:
    """Frankfurter rounds rebased rates to five significant digits."""
    return float(f"{value:.5g}")
