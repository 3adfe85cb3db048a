"""The OLTP workload: the travel application writing PostgreSQL as it would in production.

Two kinds of work, both real transactions (``store.py``):

* **the desk** — mobile/web journeys hand it their signups and bookings (``signup``/``book``) before
  they emit the event, so the booking in an app event is the row in ``bookings`` (same booking_id,
  user_id, session_id). Each booking then follows its lifecycle plan (``booking.plan_for``):
  pending → confirmed → completed | cancelled, payment authorized → captured → refunded, on a timer;
* **the back office** — at the source's rate: signups, profile changes, account deletions
  (``DELETE``), call-centre bookings.

Its output records are an operation log (one per transaction); the CDC relay turns the WAL of the same
transactions into Kafka records. Timing depends on the database, so the OLTP source is left out of the
content hash; each booking's *outcome* is still a pure function of its id.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from lambdas.simulators import places
from lambdas.simulators.booking import PAYMENT_METHOD_WEIGHTS, PAYMENT_METHODS, Booking, plan_for, remaining_steps
from lambdas.simulators.exceptions import SimulatorError
from lambdas.simulators.sources.base import Keyed, Source, SourceContext, SourceOptions
from lambdas.simulators.store import MemoryStore, Store
from lambdas.simulators.world import User, Weighted

log = logging.getLogger("simulators.oltp")
_BACK_OFFICE = Weighted(("signup", "profile_update", "booking", "account_deletion"), (25, 45, 22, 8))
_METHOD = Weighted(PAYMENT_METHODS, PAYMENT_METHOD_WEIGHTS)


class OltpOptions(SourceOptions):
    #: ``postgres`` (settings.pg_dsn()) or ``memory`` (same rules, no database).
    store: Literal["postgres", "memory"] = "postgres"
    #: Insert the world's population at start (``ON CONFLICT DO NOTHING``) so journeys can book.
    preload_users: bool = True
    #: Multiplies every lifecycle delay (0.01 = a booking's whole life in a few seconds).
    lifecycle_time_scale: float = Field(default=1.0, gt=0.0, le=1000.0)
    #: Continue the lifecycle of bookings a previous run left open (worker 0 only).
    resume_open: bool = True
    resume_limit: int = Field(default=500, ge=0)
    #: At shutdown: ``leave`` open bookings (a later run resumes them) or ``drain`` (run every remaining step).
    finish: Literal["leave", "drain"] = "leave"


class OltpSource(Source):
    name = "oltp"
    default_rate = 0.25  # back-office transactions/s (+ the lifecycle of every booking)
    topic = None
    default_sink = "discard"
    Options = OltpOptions
    tick_s = 0.25
    deterministic = False

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.opts: OltpOptions = self.options  # type: ignore[assignment]
        store = ctx.extras.get("store")
        self.store: Store = store if store is not None else MemoryStore()
        self._lock = threading.Lock()
        self._due: list[tuple[int, int, str, str, str]] = []  # (due_ms, seq, op, booking_id, payment_id)
        self._seq = 0
        self._log: deque[Keyed] = deque()
        self.signups: deque[str] = deque(maxlen=200)  # back-office signups, candidates for deletion
        self._signup_seq = 0
        self.n = {"bookings": 0, "transitions": 0, "conflicts": 0, "signups": 0, "profile_updates": 0,
                  "deletions": 0, "replayed": 0, "failures": 0, "resumed": 0}
        self.now_ms = int(ctx.extras.get("start_ms", 0))
        if self.opts.preload_users:
            self.store.ensure_users(self.world.users)
        if self.opts.resume_open and self.stream == 0 and self.opts.resume_limit:
            self._resume()

    # -- the desk (called from the journey sources' threads) ------------------------------------
    def signup(self, user: User, ts_ms: int) -> None:
        inserted = self.store.signup(user)
        self._record(ts_ms, "signup", "users", user.user_id, None, "created" if inserted else "exists",
                     user_id=user.user_id)
        with self._lock:
            self.n["signups"] += 1

    def book(self, b: Booking) -> None:
        """Write the booking and its payment authorisation, then schedule its lifecycle."""
        if not self.store.create_booking(b):
            with self._lock:
                self.n["replayed"] += 1
            return
        self._record(b.created_ms, "create", "bookings", b.booking_id, None, "pending", booking_id=b.booking_id,
                     payment_id=b.payment_id, user_id=b.user_id, session_id=b.session_id, channel=b.channel,
                     amount=b.amount, currency=b.currency)
        plan = plan_for(b.booking_id, self.opts.lifecycle_time_scale)
        with self._lock:
            self.n["bookings"] += 1
            for step in plan.steps:
                self._push(b.created_ms + int(step.after_s * 1000), step.op, b.booking_id, b.payment_id)

    def _push(self, due_ms: int, op: str, booking_id: str, payment_id: str) -> None:
        self._seq += 1
        heapq.heappush(self._due, (due_ms, self._seq, op, booking_id, payment_id))

    def _record(self, ts: int, op: str, table: str, key: str, before: str | None, after: str, **ids: Any) -> None:
        rec = {"ts": ts, "op": op, "table": table, "key": key, "from": before, "to": after, **ids}
        with self._lock:
            self._log.append((key, rec))

    def _resume(self) -> None:
        for booking_id, payment_id, bstat, pstat in self.store.open_bookings(self.opts.resume_limit):
            steps = remaining_steps(plan_for(booking_id, self.opts.lifecycle_time_scale), bstat, pstat)
            with self._lock:
                for i, step in enumerate(steps):
                    self._push(self.now_ms + int(step.after_s * 1000 * (i + 1) / len(steps)), step.op,
                               booking_id, payment_id)
                self.n["resumed"] += bool(steps)

    # -- the lifecycle (this source's own thread) ------------------------------------------------
    def tick(self, now_ms: int) -> int:
        self.now_ms = now_ms
        done = 0
        while True:
            with self._lock:
                if not self._due or self._due[0][0] > now_ms:
                    return done
                due_ms, _, op, booking_id, payment_id = heapq.heappop(self._due)
            done += self._run_step(max(due_ms, 0), op, booking_id, payment_id, now_ms)

    def _run_step(self, due_ms: int, op: str, booking_id: str, payment_id: str, now_ms: int) -> int:
        from lambdas.simulators.booking import OPERATIONS

        try:
            applied = self.store.apply(op, booking_id, payment_id)
        except SimulatorError as exc:  # database down past the retry budget: try again later
            log.error("lifecycle step %s of %s deferred: %s", op, booking_id, exc)
            with self._lock:
                self.n["failures"] += 1
                self._push(now_ms + 5_000, op, booking_id, payment_id)
            return 0
        with self._lock:
            self.n["transitions" if applied else "conflicts"] += 1
        if applied:
            (b0, b1), (p0, p1) = OPERATIONS[op]
            self._record(due_ms, op, "bookings", booking_id, b0, b1, booking_id=booking_id, payment_id=payment_id,
                         payment_from=p0, payment_to=p1)
        return int(applied)

    def drain(self) -> int:
        """Run every scheduled step now, in order (``finish: drain``)."""
        return self.tick(2**62)

    def pending(self) -> int:
        with self._lock:
            return len(self._due)

    # -- the back office (this source's rate) ----------------------------------------------------
    def generate(self, timestamps: list[int]) -> list[Keyed]:
        for ts in timestamps:
            self.now_ms = ts
            try:
                self._back_office(ts)
            except SimulatorError as exc:
                log.error("back-office transaction failed: %s", exc)
                with self._lock:
                    self.n["failures"] += 1
        return self.take_log()

    def take_log(self) -> list[Keyed]:
        with self._lock:
            out = list(self._log)
            self._log.clear()
        return out

    def _back_office(self, ts: int) -> None:
        rng = self.rng
        kind = _BACK_OFFICE.pick(rng.random())
        if kind == "account_deletion" and self.signups:
            user_id = self.signups.popleft()
            if self.store.delete_user(user_id):
                self._record(ts, "delete", "users", user_id, "active", "deleted", user_id=user_id)
                self.n["deletions"] += 1
            return
        if kind in ("signup", "account_deletion"):
            self._signup_seq += 1
            user = self.world.new_user(rng, f"u-{self.world.tag}-o{self.stream}-{self._signup_seq:07d}")
            if self.store.signup(user):
                self.signups.append(user.user_id)
                self._record(ts, "signup", "users", user.user_id, None, "created", user_id=user.user_id)
                self.n["signups"] += 1
            return
        user = self.world.active_user(rng.random())
        if kind == "profile_update":
            changes = self._profile_change(user)
            if self.store.update_profile(user.user_id, changes):
                self._record(ts, "update", "users", user.user_id, None, ",".join(sorted(changes)), user_id=user.user_id)
                self.n["profile_updates"] += 1
            return
        dest = self.world.destinations.pick(rng.random()).name
        hotel = self.world.hotel(rng, dest, user.segment)
        nights = 1 + int(rng.random() * 5)
        check_in = datetime.fromtimestamp(ts / 1000, tz=UTC).date() + timedelta(days=3 + int(rng.random() * 60))
        self.book(Booking(
            booking_id=f"bk-{rng.getrandbits(64):016x}", payment_id=f"pay-{rng.getrandbits(64):016x}",
            user_id=user.user_id, session_id=None, hotel_id=hotel.hotel_id, destination=dest, check_in=check_in,
            check_out=check_in + timedelta(days=nights), guests=1 + int(rng.random() * 3),
            amount=float(hotel.price_vnd * nights), currency="VND", method=_METHOD.pick(rng.random()),
            created_ms=ts, channel="back_office"))

    def _profile_change(self, user: User) -> dict[str, str]:
        rng = self.rng
        field = rng.choice(("home_city", "locale", "segment", "device_type", "full_name"))
        if field == "home_city":
            return {"home_city": rng.choice([c for c, _ in places.HOME_CITIES[:10]])}
        if field == "locale":
            return {"locale": "en-US" if user.locale == "vi-VN" else "vi-VN"}
        if field == "segment":
            return {"segment": rng.choice(places.SEGMENTS)}
        if field == "device_type":
            return {"device_type": rng.choice(("mobile", "desktop", "tablet"))}
        return {"full_name": " ".join([*user.full_name.split()[:-1], rng.choice(places.GIVEN_NAMES)])}

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self.n, "scheduled": len(self._due)}

    def flush(self) -> list[Keyed]:
        return self.take_log()

    def close(self) -> None:
        if self.opts.finish == "drain":
            self.drain()
        self.store.close()
