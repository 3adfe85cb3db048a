"""Await the broker's acknowledgement from asyncio: a delivery report becomes a future's result.

librdkafka serves delivery reports on the shared producer's poll thread; each report is handed to the
request's event loop with ``loop.call_soon_threadsafe``. A request waits at most ``ack_timeout_s``.
Because the producer's own ``delivery.timeout.ms`` is shorter than that deadline, an unacknowledged
message normally *fails* (error report) before the deadline, so the client learns the true outcome::

    acks = AckingProducer(Producer(settings, background_poll=True, **{"delivery.timeout.ms": 3500}), 5.0)
    ack = await acks.send("topic_app_events", key="u-1", value=b"...")     # -> Ack(partition, offset)
    outcomes = await acks.send_many("topic_app_events", [("u-1", b"..."), ("u-2", b"...")])

``NotAcknowledged.possibly_persisted`` is True when the broker may still have written the message
(a timeout: librdkafka cannot tell whether an in-flight request was appended), False when it is known
not to be in Kafka (refused locally or by the broker).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from eventbus.kafka import Producer

# Errors after which the message may nevertheless be in the log.
_MAYBE_WRITTEN = {KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT}


@dataclass(frozen=True, slots=True)
class Ack:
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class NotAcknowledged:
    reason: str
    possibly_persisted: bool


def _outcome(err: KafkaError | None, msg: Any) -> Ack | NotAcknowledged:
    if err is None:
        return Ack(msg.partition(), msg.offset())
    return NotAcknowledged(f"broker: {err.str()}", err.code() in _MAYBE_WRITTEN)


def _settle(fut: asyncio.Future[Any], outcome: Any) -> None:
    if not fut.done():
        fut.set_result(outcome)


def _expire(fut: asyncio.Future[Any], reason: str) -> None:
    if not fut.done():
        fut.set_result(NotAcknowledged(reason, True))


def _hand_over(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any], outcome: Any) -> None:
    # Runs on the poll thread: never raise there (an exception would end the poll loop).
    with contextlib.suppress(RuntimeError):  # the request's loop is closed (a Lambda invocation ended)
        loop.call_soon_threadsafe(_settle, fut, outcome)


class _LoopSide:
    """Per event loop: delivery reports handed over with one wake-up per burst, and deadlines.

    librdkafka serves the acknowledgements of a whole produce batch in one ``poll()``; waking the loop
    (a self-pipe write + an epoll round) once for all of them, and expiring deadlines from one FIFO
    sweep instead of a timer per request, are what keep the single-event route lean.
    """

    __slots__ = ("deadlines", "late", "lock", "loop", "pending", "scheduled", "sweeper", "timeout")

    #: Deadlines are checked at most this often (a request's 503 may come up to this much late).
    SWEEP_S = 0.05

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, late: str) -> None:
        self.loop = loop
        self.timeout = timeout
        self.late = late
        self.pending: list[tuple[asyncio.Future[Any], Any]] = []
        self.scheduled = False
        self.lock = threading.Lock()
        self.deadlines: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self.sweeper: asyncio.TimerHandle | None = None

    def watch(self, fut: asyncio.Future[Any]) -> None:  # event loop
        # One timeout for every request, so the FIFO is ordered by deadline.
        self.deadlines.append((self.loop.time() + self.timeout, fut))
        if self.sweeper is None:
            self.sweeper = self.loop.call_later(self.timeout, self._sweep)

    def _sweep(self) -> None:  # event loop
        now, queue = self.loop.time(), self.deadlines
        while queue and queue[0][0] <= now:
            _expire(queue.popleft()[1], self.late)
        self.sweeper = (
            self.loop.call_at(max(queue[0][0], now + self.SWEEP_S), self._sweep) if queue else None
        )

    def push(self, fut: asyncio.Future[Any], outcome: Any) -> None:  # poll thread
        with self.lock:
            self.pending.append((fut, outcome))
            if self.scheduled:
                return
            self.scheduled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed (a Lambda invocation ended)
            self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:  # event loop
        with self.lock:
            items, self.pending = self.pending, []
            self.scheduled = False
        for fut, outcome in items:
            if not fut.done():
                fut.set_result(outcome)


class _Batch:
    """Collects the outcomes of one batch; wakes the loop once, when the last report arrives."""

    __slots__ = ("fut", "lock", "loop", "outcomes", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.fut: asyncio.Future[None] = loop.create_future()
        self.outcomes: list[Ack | NotAcknowledged | None] = [None] * n
        self.remaining = n
        self.lock = threading.Lock()

    def report(self, index: int, err: KafkaError | None, msg: Any) -> None:
        self.outcomes[index] = _outcome(err, msg)
        with self.lock:
            self.remaining -= 1
            last = self.remaining == 0
        if last:
            _hand_over(self.loop, self.fut, None)

    def refuse(self, index: int, reason: str) -> None:
        self.outcomes[index] = NotAcknowledged(reason, False)
        with self.lock:
            self.remaining -= 1
            last = self.remaining == 0
        if last and not self.fut.done():
            self.fut.set_result(None)


class AckingProducer:
    """Produce through the shared ``eventbus.kafka.Producer`` and await acknowledgements."""

    def __init__(self, producer: Producer, ack_timeout_s: float) -> None:
        self.producer = producer
        self.ack_timeout_s = ack_timeout_s
        self._late = f"no acknowledgement from the broker within {ack_timeout_s:g} s"
        self._sides: dict[asyncio.AbstractEventLoop, _LoopSide] = {}

    def _side(self, loop: asyncio.AbstractEventLoop) -> _LoopSide:
        side = self._sides.get(loop)
        if side is None:
            for old in [lp for lp in self._sides if lp.is_closed()]:
                del self._sides[old]
            side = self._sides[loop] = _LoopSide(loop, self.ack_timeout_s, self._late)
        return side

    async def send(self, topic: str, key: str, value: bytes) -> Ack | NotAcknowledged:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Ack | NotAcknowledged] = loop.create_future()
        side = self._side(loop)
        push = side.push

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            push(fut, _outcome(err, msg))

        try:
            self.producer.produce(topic, value, key=key, on_delivery=on_delivery)
        except BufferError:
            return NotAcknowledged("the producer's local queue is full (the broker is not keeping up)", False)
        except KafkaException as exc:
            return NotAcknowledged(f"producer refused the message: {exc}", False)
        except RuntimeError as exc:  # "Producer has been closed": shutting down
            return NotAcknowledged(f"the gateway is shutting down ({exc})", False)
        side.watch(fut)
        return await fut

    async def send_many(self, topic: str, items: Sequence[tuple[str, bytes]]) -> list[Ack | NotAcknowledged]:
        """One outcome per item, in order; returns when every item has one or at the deadline."""
        if not items:
            return []
        loop = asyncio.get_running_loop()
        batch = _Batch(loop, len(items))
        report = batch.report
        produce = self.producer.produce
        for i, (key, value) in enumerate(items):
            try:
                produce(topic, value, key=key, on_delivery=functools.partial(report, i))
            except BufferError:
                batch.refuse(i, "the producer's local queue is full (the broker is not keeping up)")
            except KafkaException as exc:
                batch.refuse(i, f"producer refused the message: {exc}")
            except RuntimeError as exc:  # "Producer has been closed": shutting down
                batch.refuse(i, f"the gateway is shutting down ({exc})")
        if not batch.fut.done():
            timer = loop.call_later(self.ack_timeout_s, _settle, batch.fut, None)
            try:
                await batch.fut
            finally:
                timer.cancel()
        # Snapshot: reports that arrive after the deadline must not change what the client was told.
        return [o if o is not None else NotAcknowledged(self._late, True) for o in list(batch.outcomes)]
