"""Which WAL position may be confirmed to PostgreSQL: in-flight records per transaction, in commit order.

pgoutput sends transactions whole and in commit order. Each one becomes a ``Unit`` that counts its
records not yet acknowledged by Kafka. The confirmed LSN is the ``end_lsn`` of the newest unit such
that it and every unit before it are committed and fully acknowledged, so a restart from the slot
replays exactly what Kafka may not hold (duplicates possible, loss not).

Heartbeat messages (non-transactional logical messages) are units with no records: once everything
before them is acknowledged, their position may be confirmed, which keeps the slot moving on a quiet
database.

    >>> f = InFlight(confirmed=100)
    >>> u = f.open_unit(commit_ms=0)
    >>> f.add(u); f.close_unit(u, end_lsn=200)
    >>> f.confirmed
    100
    >>> f.ack(u); f.confirmed
    200
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Unit:
    """One transaction (or heartbeat) on its way to Kafka."""

    __slots__ = ("closed", "commit_ms", "end_lsn", "marker", "outstanding", "records", "sent_ms")

    def __init__(self, commit_ms: int, marker: bool = False) -> None:
        self.commit_ms = commit_ms
        self.end_lsn = 0
        self.outstanding = 0
        self.records = 0
        self.closed = False
        self.marker = marker  # a position without records (logical message / heartbeat)
        self.sent_ms = 0  # our heartbeats: when the message was emitted


Listener = Callable[[Unit, float], None]


class InFlight:
    def __init__(self, confirmed: int, on_complete: Listener | None = None) -> None:
        self.confirmed = confirmed
        self.records = 0  # records produced and not yet acknowledged, all units
        self._units: deque[Unit] = deque()
        self._on_complete = on_complete

    # -- transactions -----------------------------------------------------------------------------
    def open_unit(self, commit_ms: int) -> Unit:
        unit = Unit(commit_ms)
        self._units.append(unit)
        return unit

    def add(self, unit: Unit) -> None:
        """A record of ``unit`` was handed to the producer."""
        unit.outstanding += 1
        unit.records += 1
        self.records += 1

    def ack(self, unit: Unit) -> None:
        """Kafka acknowledged one record of ``unit``."""
        unit.outstanding -= 1
        self.records -= 1
        if unit.outstanding == 0 and unit.closed:
            self._completed(unit)

    def close_unit(self, unit: Unit, end_lsn: int) -> None:
        """The transaction's commit arrived: no more records will be added."""
        unit.end_lsn = end_lsn
        unit.closed = True
        if unit.outstanding == 0:
            self._completed(unit)

    def marker(self, lsn: int, sent_ms: int = 0) -> Unit:
        """A position with no records (a non-transactional logical message, e.g. our heartbeat)."""
        unit = Unit(commit_ms=0, marker=True)
        unit.sent_ms = sent_ms
        self._units.append(unit)
        self.close_unit(unit, lsn)
        return unit

    # -- idle progress ----------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """Nothing received is waiting for Kafka and no transaction is half-received."""
        return not self._units

    def advance_idle(self, lsn: int) -> bool:
        """A keepalive while idle: everything before ``lsn`` has been sent to us and handled."""
        if self._units or lsn <= self.confirmed:
            return False
        self.confirmed = lsn
        return True

    @property
    def oldest_commit_ms(self) -> int | None:
        """Commit time of the oldest transaction not yet confirmable (for the ms-behind gauge)."""
        for unit in self._units:
            if not unit.marker:
                return unit.commit_ms
        return None

    def __len__(self) -> int:
        return len(self._units)

    # -- internals --------------------------------------------------------------------------------
    def _completed(self, unit: Unit) -> None:
        if self._on_complete is not None:
            self._on_complete(unit, time.time() * 1000)
        units = self._units
        while units and units[0].closed and units[0].outstanding == 0:
            done = units.popleft()
            if done.end_lsn > self.confirmed:
                self.confirmed = done.end_lsn
