"""The base of the journey sources (mobile, web): interleaved sessions and the hand-off to the OLTP desk."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import Field

from lambdas.simulators.journey import Emit, Flow, Session
from lambdas.simulators.replay import ReplaySpec
from lambdas.simulators.sources.base import Keyed, Source, SourceContext, SourceOptions

log = logging.getLogger("simulators.journey")


class JourneyOptions(SourceOptions):
    #: Sessions in flight at once; their events interleave as concurrent users' would.
    concurrent_sessions: int = Field(default=16, ge=1, le=100_000)


class JourneySource(Source):
    """Emits the events of ``concurrent_sessions`` interleaved sessions built by ``flow``.

    When an event carries an action (signup, booking) it is handed to the OLTP desk *before* the event
    is emitted, as a real app writes the row and then logs the event. If the desk fails, the event
    becomes an ``error`` event (as the app would log) and the failure is counted.
    """

    flow: ClassVar[Flow]
    default_sink = "gateway"
    Options = JourneyOptions
    replay = ReplaySpec(fresh=("event_id",), per_pass=("session_id", "booking_id"), time="event_ts",
                        offsets=("received_ts",))

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.desk = ctx.desk
        self.next_j = 0
        self.sessions = 0
        self.bookings = 0
        self.signups = 0
        self.desk_failures = 0
        start = int(ctx.extras.get("start_ms", 0))
        k = self.options.concurrent_sessions  # type: ignore[attr-defined]
        self.pool = [self._next_session(start) for _ in range(k)]

    def _next_session(self, now_ms: int) -> Session:
        s = self.flow.build(self.world, self.stream, self.next_j, now_ms)
        self.next_j += 1
        self.sessions += 1
        return s

    def generate(self, timestamps: list[int]) -> list[Keyed]:
        out: list[Keyed] = []
        pool, k, rnd = self.pool, len(self.pool), self.rng.random
        for ts in timestamps:
            i = int(rnd() * k)
            s = pool[i]
            e = s.events[s.pos]
            s.pos += 1
            if s.pos >= len(s.events):
                pool[i] = self._next_session(ts)
            rec = e.record
            if e.action is not None or s.failed is not None:
                rec = self._act(s, e, ts)
            rec["event_ts"] = ts
            rec["received_ts"] = ts + 15 + int(rnd() * 250)  # network + gateway latency
            out.append((rec["user_id"], rec))
        return out

    def _act(self, s: Session, e: Emit, ts: int) -> dict[str, Any]:
        rec = e.record
        if s.failed is not None and rec["booking_id"] == s.failed:
            return self._as_error(rec, "E_BOOKING_FAILED")
        if e.action is None:
            return rec
        kind, payload = e.action
        if kind == "booking":
            payload.created_ms = ts
        if self.desk is None:
            self.bookings += kind == "booking"
            self.signups += kind == "signup"
            return rec
        try:
            if kind == "booking":
                self.desk.book(payload)
                self.bookings += 1
            else:
                self.desk.signup(payload, ts)
                self.signups += 1
        except Exception as exc:  # the desk logs the cause; the app shows an error screen
            self.desk_failures += 1
            log.warning("OLTP %s failed: %s", kind, exc)
            if kind == "booking":
                s.failed = rec["booking_id"]
            return self._as_error(rec, "E_BOOKING_FAILED" if kind == "booking" else "E_SIGNUP_FAILED")
        return rec

    @staticmethod
    def _as_error(rec: dict[str, Any], code: str) -> dict[str, Any]:
        failed = dict(rec, event_type="error", booking_id=None, amount=None, currency=None)
        failed["properties"] = {"error_code": code, "screen": rec["page"] or ""}
        return failed

    def stats(self) -> dict[str, int]:
        return {"sessions": self.sessions, "bookings": self.bookings, "signups": self.signups,
                "desk_failures": self.desk_failures}
