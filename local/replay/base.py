"""What every replayed API shares: the request a handler sees, its answer, seeded randomness, recordings.

A handler takes a ``Request`` and returns an ``Answer``: a status, a JSON-able body (a ``str`` is sent as
``text/plain``, as the real reverse proxies do for their refusals) and extra headers (``Retry-After``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).resolve().parent / "recordings"


@dataclass
class Request:
    method: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    #: The replay server's idea of "today" (windows like Open-Meteo's 93 days back are relative to it).
    today: date = field(default_factory=date.today)
    #: Its clock, when the time of day matters (the ECB publishes its rates at about 16:00 CET); unset: the
    #: start of ``today`` (UTC).
    now: datetime | None = None
    #: Seconds the server "worked" on this request before answering (a ``slow`` fault; Overpass compares
    #: it with the query's own ``[timeout:N]``).
    runtime_s: float = 0.0
    #: Hourly variables this answer has as ``null`` in every hour (a ``nulls`` fault; an empty set: all of
    #: them), as Open-Meteo answers for days its model does not hold (open-meteo/open-meteo#972, #1806).
    null_variables: frozenset[str] | None = None

    @property
    def clock(self) -> datetime:
        return self.now or datetime.combine(self.today, time(), UTC)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@cache
def recording(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


def rng(*parts: object) -> random.Random:
    return random.Random(int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16], 16))


def bad(message: str) -> Answer:
    """Open-Meteo's (and our default) error shape: ``{"error": true, "reason": ...}`` with a 400."""
    return Answer(400, {"error": True, "reason": message})
