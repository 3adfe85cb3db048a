"""Frankfurter ``/v1/{date}``: ECB reference rates only (lineofflight/frankfurter ``lib/versions/v1.rb``).

As the v1 code does: a date answers the rates of the closest *published* working day, with *that* date — a
weekend or TARGET holiday (1 Jan, Good Friday, Easter Monday, 1 May, 25/26 Dec) the previous business day's,
and so does a business day before the ECB publishes it, at about 16:00 CET: a run at 01:00 UTC asking for
today gets yesterday's rates. A symbol the ECB does not publish (VND, TWD, ...) is left out of ``rates``; when
nothing is left, or the base itself is unknown, the answer is **404** ``{"message": "not found"}`` (#594, #169,
#28); a bad date or a base equal to the only symbol is a 422. Sources: local/replay/README.md.

    >>> business_day(date(2026, 4, 6))  # Easter Monday -> Good Friday is closed too -> Maundy Thursday
    datetime.date(2026, 4, 2)
    >>> published_through(datetime.fromisoformat("2026-01-16T01:00:00+00:00"))  # a Friday: Thursday's
    datetime.date(2026, 1, 15)
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from local.replay.base import Answer, Request, recording, rng

#: "The reference rates are usually updated at around 16:00 CET every working day, except on TARGET closing
#: days" (the ECB's euro foreign exchange reference rates page); CET is Frankfurt's local time.
PUBLISHED_AT, ECB_TZ = clock_time(16, 0), ZoneInfo("Europe/Berlin")
FIRST_DAY = date(1999, 1, 4)


def easter(year: int) -> date:
    """Easter Sunday (Gregorian): the anonymous algorithm (Meeus/Jones/Butcher). ``easter(2026)`` → 5 April."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def target_closed(day: date) -> bool:
    """TARGET closing days: weekends, 1 Jan, Good Friday, Easter Monday, 1 May, 25 and 26 Dec."""
    sunday = easter(day.year)
    return (day.weekday() >= 5 or (day.month, day.day) in {(1, 1), (5, 1), (12, 25), (12, 26)}
            or day in (sunday - timedelta(days=2), sunday + timedelta(days=1)))


def business_day(day: date) -> date:
    """The ECB publishes on TARGET business days: ``day``, or the closest one before it."""
    while target_closed(day):
        day -= timedelta(days=1)
    return day


def published_through(now: datetime) -> date:
    """The latest day whose rates are out at ``now``: today's from about 16:00 Frankfurt time."""
    local = now.astimezone(ECB_TZ)
    return business_day(local.date() - timedelta(days=0 if local.time() >= PUBLISHED_AT else 1))


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
    day = business_day(min(asked, published_through(req.clock)))
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
