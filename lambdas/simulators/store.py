"""The OLTP application's data access: real transactions on PostgreSQL, or the same rules in memory.

Every state change is a guarded ``UPDATE … WHERE status = <expected>`` inside one transaction with its
partner row (booking + payment), so an illegal move (a refund before a capture, a second completion)
cannot happen even with several writers: a guard that matches no row rolls the whole change back and
is reported as a conflict. ``MemoryStore`` applies the same rules for dry runs and unit tests.

    >>> from lambdas.simulators.store import PostgresStore
    >>> store = PostgresStore(settings.pg_dsn())
    >>> store.create_booking(booking)      # INSERT booking (pending) + payment (authorized)
    True
    >>> store.apply("confirm", booking.booking_id, booking.payment_id)
    True
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lambdas.simulators.booking import BOOKING_MOVES, OPERATIONS, PAYMENT_MOVES, Booking, legal
from lambdas.simulators.exceptions import IllegalTransitionError, StoreUnavailableError
from lambdas.simulators.world import User

log = logging.getLogger("simulators.store")
T = TypeVar("T")
OpenBooking = tuple[str, str, str, str]  # booking_id, payment_id, booking status, payment status
PROFILE_COLUMNS = ("full_name", "home_city", "locale", "segment", "device_type")


def user_row(u: User) -> tuple[str, str, str, str, str, str, str]:
    return (u.user_id, u.email, u.full_name, u.home_city, u.locale, u.segment, u.device_type)


class Store(ABC):
    @abstractmethod
    def ensure_users(self, users: Iterable[User]) -> int: ...
    @abstractmethod
    def signup(self, user: User) -> bool: ...
    @abstractmethod
    def update_profile(self, user_id: str, changes: dict[str, str]) -> bool: ...
    @abstractmethod
    def delete_user(self, user_id: str) -> bool:
        """Delete an account that never booked (an account with bookings is kept: returns False)."""
    @abstractmethod
    def create_booking(self, b: Booking) -> bool:
        """Booking (pending) + payment (authorized) in one transaction; False when it already exists."""
    @abstractmethod
    def apply(self, op: str, booking_id: str, payment_id: str) -> bool:
        """Run a lifecycle operation; False when the rows are not in the operation's start state."""
    @abstractmethod
    def open_bookings(self, limit: int) -> list[OpenBooking]: ...
    def close(self) -> None: ...  # noqa: B027 - optional hook


class MemoryStore(Store):
    """The same rules without a database (dry runs, unit tests). Raises on an illegal transition."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.bookings: dict[str, tuple[str, str]] = {}  # booking_id -> (user_id, status)
        self.payments: dict[str, tuple[str, str]] = {}  # payment_id -> (booking_id, status)
        self.history: list[tuple[str, str, str | None, str]] = []  # (table, id, from, to)
        self._lock = threading.Lock()

    def ensure_users(self, users: Iterable[User]) -> int:
        return sum(self.signup(u) for u in users)

    def signup(self, user: User) -> bool:
        with self._lock:
            if user.user_id in self.users:
                return False
            self.users[user.user_id] = user
            return True

    def update_profile(self, user_id: str, changes: dict[str, str]) -> bool:
        with self._lock:
            return user_id in self.users

    def delete_user(self, user_id: str) -> bool:
        with self._lock:
            if user_id not in self.users or any(u == user_id for u, _ in self.bookings.values()):
                return False
            del self.users[user_id]
            return True

    def create_booking(self, b: Booking) -> bool:
        with self._lock:
            if b.booking_id in self.bookings:
                return False
            if b.user_id not in self.users:
                raise IllegalTransitionError(f"booking {b.booking_id}: user {b.user_id} does not exist")
            self._move("bookings", b.booking_id, None, "pending", BOOKING_MOVES)
            self._move("payments", b.payment_id, None, "authorized", PAYMENT_MOVES)
            self.bookings[b.booking_id] = (b.user_id, "pending")
            self.payments[b.payment_id] = (b.booking_id, "authorized")
            return True

    def _move(self, table: str, key: str, before: str | None, after: str, moves: Any) -> None:
        if not legal(moves, before, after):
            raise IllegalTransitionError(f"{table} {key}: {before} -> {after} is not allowed")
        if before != after:
            self.history.append((table, key, before, after))

    def apply(self, op: str, booking_id: str, payment_id: str) -> bool:
        (b0, b1), (p0, p1) = OPERATIONS[op]
        with self._lock:
            user, bstat = self.bookings.get(booking_id, ("", ""))
            _, pstat = self.payments.get(payment_id, ("", ""))
            if bstat != b0 or pstat != p0:
                return False
            self._move("bookings", booking_id, b0, b1, BOOKING_MOVES)
            self._move("payments", payment_id, p0, p1, PAYMENT_MOVES)
            self.bookings[booking_id] = (user, b1)
            self.payments[payment_id] = (booking_id, p1)
            return True

    def open_bookings(self, limit: int) -> list[OpenBooking]:
        with self._lock:
            by_booking = {b: (p, s) for p, (b, s) in self.payments.items()}
            return [(b, by_booking[b][0], s, by_booking[b][1]) for b, (_, s) in self.bookings.items()
                    if s in ("pending", "confirmed")][:limit]


class PostgresStore(Store):
    """psycopg2, one connection per thread, every change in its own transaction.

    A lost connection is retried with exponential backoff for up to ``retry_s`` seconds (counted in
    ``retries``); then ``StoreUnavailableError`` says which database could not be reached.
    """

    def __init__(self, dsn: str, retry_s: float = 30.0, on_retry: Callable[[], None] | None = None) -> None:
        import psycopg2  # the simulators extra

        self._pg = psycopg2
        self.dsn = dsn
        self.retry_s = retry_s
        self.retries = 0
        self._on_retry = on_retry
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self.where = " ".join(p for p in dsn.split() if p.split("=")[0] in ("host", "port", "dbname"))

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._pg.connect(self.dsn, application_name="simulators-oltp")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _tx(self, fn: Callable[[Any], T]) -> T:
        delay, deadline = 0.2, time.monotonic() + self.retry_s
        while True:
            try:
                conn = self._conn()
                with conn, conn.cursor() as cur:  # commit on success, rollback on error
                    return fn(cur)
            except (self._pg.OperationalError, self._pg.InterfaceError) as exc:
                conn = getattr(self._local, "conn", None)
                if conn is not None and conn.closed:
                    self._local.conn = None  # lost: reconnect; a live one (deadlock victim) is reused
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailableError(
                        f"PostgreSQL at {self.where} unreachable for {self.retry_s:.0f}s: {str(exc).strip()} "
                        "— run `make local-up`") from exc
                self.retries += 1
                if self._on_retry:
                    self._on_retry()
                log.warning("PostgreSQL unavailable, retrying in %.1fs: %s", delay, str(exc).strip())
                time.sleep(delay)  # backoff between reconnect attempts, not synchronisation
                delay = min(delay * 2, 5.0)

    def ensure_users(self, users: Iterable[User]) -> int:
        from psycopg2.extras import execute_values

        rows = [user_row(u) for u in users]

        def run(cur: Any) -> int:
            execute_values(cur, "INSERT INTO users (user_id, email, full_name, home_city, locale, segment, "
                                "device_type) VALUES %s ON CONFLICT (user_id) DO NOTHING", rows, page_size=1000)
            return int(cur.rowcount)

        return self._tx(run)

    def signup(self, user: User) -> bool:
        def run(cur: Any) -> bool:
            cur.execute("INSERT INTO users (user_id, email, full_name, home_city, locale, segment, device_type) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id) DO NOTHING", user_row(user))
            return bool(cur.rowcount == 1)

        return self._tx(run)

    def update_profile(self, user_id: str, changes: dict[str, str]) -> bool:
        bad = set(changes) - set(PROFILE_COLUMNS)
        if bad or not changes:
            raise ValueError(f"not a profile column: {sorted(bad) or 'none given'}")
        sets = ", ".join(f"{col} = %s" for col in changes)

        def run(cur: Any) -> bool:
            cur.execute(f"UPDATE users SET {sets} WHERE user_id = %s", [*changes.values(), user_id])
            return bool(cur.rowcount == 1)

        return self._tx(run)

    def delete_user(self, user_id: str) -> bool:
        def run(cur: Any) -> bool:
            cur.execute("DELETE FROM users u WHERE u.user_id = %s "
                        "AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.user_id = u.user_id)", (user_id,))
            return bool(cur.rowcount == 1)

        return self._tx(run)

    def create_booking(self, b: Booking) -> bool:
        def run(cur: Any) -> bool:
            cur.execute(
                "INSERT INTO bookings (booking_id, user_id, session_id, hotel_id, destination, check_in, check_out, "
                "guests, amount, currency, status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending') "
                "ON CONFLICT (booking_id) DO NOTHING",
                (b.booking_id, b.user_id, b.session_id, b.hotel_id, b.destination, b.check_in, b.check_out,
                 b.guests, b.amount, b.currency))
            if cur.rowcount != 1:
                return False  # a replay of the same seed: the booking is already there
            cur.execute("INSERT INTO payments (payment_id, booking_id, amount, currency, method, status) "
                        "VALUES (%s, %s, %s, %s, %s, 'authorized')",
                        (b.payment_id, b.booking_id, b.amount, b.currency, b.method))
            return True

        return self._tx(run)

    def apply(self, op: str, booking_id: str, payment_id: str) -> bool:
        (b0, b1), (p0, p1) = OPERATIONS[op]

        class _Conflict(Exception):
            pass

        def run(cur: Any) -> bool:
            # Booking first, then payment: the same lock order as create_booking (no deadlocks).
            cur.execute("UPDATE bookings SET status = %s WHERE booking_id = %s AND status = %s", (b1, booking_id, b0))
            if cur.rowcount != 1:
                raise _Conflict
            if p0 != p1:
                cur.execute("UPDATE payments SET status = %s WHERE payment_id = %s AND booking_id = %s "
                            "AND status = %s", (p1, payment_id, booking_id, p0))
                if cur.rowcount != 1:
                    raise _Conflict  # rolls the booking change back too
            return True

        try:
            return self._tx(run)
        except _Conflict:
            return False

    def open_bookings(self, limit: int) -> list[OpenBooking]:
        def run(cur: Any) -> list[OpenBooking]:
            cur.execute("SELECT b.booking_id, p.payment_id, b.status, p.status FROM bookings b "
                        "JOIN payments p ON p.booking_id = b.booking_id "
                        "WHERE b.status IN ('pending', 'confirmed') ORDER BY b.created_at LIMIT %s", (limit,))
            return [tuple(r) for r in cur.fetchall()]

        return self._tx(run)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                if not conn.closed:
                    conn.close()
            self._all.clear()
