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
import threading
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
            _hand_over(self.loop, self.fut, None)  # type: ignore[arg-type]

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

    async def send(self, topic: str, key: str, value: bytes) -> Ack | NotAcknowledged:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Ack | NotAcknowledged] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            _hand_over(loop, fut, _outcome(err, msg))

        try:
            self.producer.produce(topic, value, key=key, on_delivery=on_delivery)
        except BufferError:
            return NotAcknowledged("the producer's local queue is full (the broker is not keeping up)", False)
        except KafkaException as exc:
            return NotAcknowledged(f"producer refused the message: {exc}", False)
        timer = loop.call_later(self.ack_timeout_s, _expire, fut, self._late)
        try:
            return await fut
        finally:
            timer.cancel()

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
                produce(topic, value, key=key, on_delivery=lambda err, msg, _i=i: report(_i, err, msg))
            except BufferError:
                batch.refuse(i, "the producer's local queue is full (the broker is not keeping up)")
            except KafkaException as exc:
                batch.refuse(i, f"producer refused the message: {exc}")
        if not batch.fut.done():
            timer = loop.call_later(self.ack_timeout_s, _settle, batch.fut, None)
            try:
                await batch.fut
            finally:
                timer.cancel()
        # Snapshot: reports that arrive after the deadline must not change what the client was told.
        return [o if o is not None else NotAcknowledged(self._late, True) for o in list(batch.outcomes)]
