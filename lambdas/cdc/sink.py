"""Where envelopes go: Kafka through the shared producer and serde.

Every record of a transaction is counted in its ``Unit`` before it is produced and acknowledged in
the delivery report, which is what lets the relay confirm an LSN only once Kafka holds everything
before it. A failed delivery is not retried here (that would reorder a key): the session ends, the
slot was not advanced past the record, and the next session (a new producer, after a transient
failure) or the restart replays it.

A full producer queue (Kafka slow or away, wide rows) is backpressure, not a failure: the record
waits here, in order (``waiting``), the relay stops reading until ``poll`` has handed it to the
producer, and it stays unacknowledged meanwhile, so no LSN is confirmed past it.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from eventbus.exceptions import BrokerUnavailableError, DeliveryError
from eventbus.kafka import Producer
from eventbus.logging import get_logger
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.cdc.envelope import Change
from lambdas.cdc.exceptions import DeliveryFailed, SetupError
from lambdas.cdc.inflight import InFlight, Unit

log = get_logger("cdc.sink")
QUEUE_FULL_LOG_INTERVAL = 10.0  # seconds between "queue full" lines: a stalled Kafka fills it again and again
# Delivery failures that say nothing about the record itself: Kafka away longer than the delivery
# timeout, the idempotent producer's fatal error (its sequence numbers out of step with a restarted
# broker's; librdkafka then purges its queue), a request lost with its connection.
TRANSIENT = frozenset({
    KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._FATAL, KafkaError._PURGE_QUEUE,
    KafkaError._PURGE_INFLIGHT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, KafkaError.UNKNOWN_PRODUCER_ID, KafkaError.INVALID_PRODUCER_EPOCH,
    KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND, KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
})


class EnvelopeSink:
    def __init__(
        self,
        settings: Settings,
        inflight: InFlight,
        *,
        topic: str,
        kafka_topic: str | None = None,
        serde: AvroSerde | None = None,
        producer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.inflight = inflight
        self.topic = topic  # catalog topic: the schema
        self.kafka_topic = kafka_topic or topic  # where the records go (RelayConfig.kafka_topic)
        self.serde = serde or AvroSerde(settings)
        self.header = self.serde.header(topic)  # registers the schema; Glue wire-format prefix
        self._encode = self.serde.encoder(topic)  # header + body: the shared compiled encoder
        # replace_on_fatal=False: after librdkafka's fatal error the relay replays from its slot through a
        # new sink (``Relay._discard_sink``), so no later record reaches Kafka before an earlier one's replay.
        # enqueue_timeout=0: a full queue raises BufferError at once, and the record waits in ``waiting`` while
        # the relay's loop keeps serving reports and the walsender (blocking in produce() would starve both).
        self.producer = Producer(settings, client_id="cdc-relay", replace_on_fatal=False, enqueue_timeout=0,
                                 **(producer_overrides or {}))
        self.failure: str | None = None
        self.failure_transient = False
        self.acked = 0
        #: Records the producer's full queue did not take yet (key, value, headers, callback), in order.
        #: While any wait, nothing else is produced and the relay reads nothing more.
        self.waiting: deque[tuple[Any, bytes, Any, Any]] = deque()
        self.queue_full = 0  # times the queue was found full
        self._queue_full_logged = 0.0
        self._produce = self.producer.produce

    def check_topic(self, timeout: float = 10.0) -> None:
        try:
            meta = self.producer.raw.list_topics(self.kafka_topic, timeout=timeout)
        except Exception as exc:
            raise BrokerUnavailableError(self.producer.settings.kafka_bootstrap, str(exc)) from exc
        info = meta.topics.get(self.kafka_topic)
        if info is None or info.error is not None:
            raise SetupError(
                f"Kafka topic {self.kafka_topic!r} does not exist — apply the catalog first "
                "(`python -m lambdas.bootstrap`; `make local-up` does it)"
            )

    # -- hot path ---------------------------------------------------------------------------------
    def send(self, change: Change, unit: Unit | None) -> None:
        """An envelope in dict form (snapshot, truncate, the general path)."""
        key, record, headers = change
        value = self._encode(record)
        callback: Any
        if unit is not None:
            self.inflight.add(unit)
            callback = partial(self._delivered, unit)
        else:
            callback = self._delivered_untracked
        if self.waiting:
            self.waiting.append((key, value, headers, callback))  # behind the waiting ones: key order
            return
        try:
            self._produce(self.kafka_topic, value, key, headers, callback)
        except BufferError:
            self._queue_is_full((key, value, headers, callback))
        except KafkaException as exc:
            raise self._refused(exc) from None

    def send_encoded(self, key: bytes, value: bytes, unit: Unit) -> None:
        """An envelope already framed (``transcode.py``)."""
        self.inflight.add(unit)
        callback = partial(self._delivered, unit)
        if self.waiting:
            self.waiting.append((key, value, None, callback))
            return
        try:
            self._produce(self.kafka_topic, value, key, None, callback)
        except BufferError:
            self._queue_is_full((key, value, None, callback))
        except KafkaException as exc:
            raise self._refused(exc) from None

    def _queue_is_full(self, record: tuple[Any, bytes, Any, Any]) -> None:
        self.waiting.append(record)
        self.queue_full += 1
        now = time.monotonic()
        if now - self._queue_full_logged >= QUEUE_FULL_LOG_INTERVAL:
            self._queue_full_logged = now
            log.warning(f"the Kafka producer's queue is full ({len(self.producer)} records await Kafka at "
                        f"{self.producer.settings.kafka_bootstrap}): reading pauses until Kafka takes them; "
                        "nothing is confirmed meanwhile")

    def _produce_waiting(self) -> None:
        """Hand the waiting records to the producer, oldest first, while its queue has room."""
        waiting, produce, topic = self.waiting, self._produce, self.kafka_topic
        while waiting:
            key, value, headers, callback = waiting[0]
            try:
                produce(topic, value, key, headers, callback)
            except BufferError:
                return
            except KafkaException as exc:
                raise self._refused(exc) from None
            waiting.popleft()

    def _refused(self, exc: KafkaException) -> DeliveryFailed:
        """produce() itself raised: after librdkafka's fatal error every call does (transient: a new
        producer sends again); anything else is about the record or the setup."""
        err = exc.args[0] if exc.args else None
        code = err.code() if isinstance(err, KafkaError) else None
        return _failure(f"Kafka refused a change ({err.str() if isinstance(err, KafkaError) else exc})",
                        code in TRANSIENT or self.producer.fatal is not None)

    def _delivered(self, unit: Unit, err: Any, _msg: Any) -> None:
        if err is None:
            self.acked += 1
            self.inflight.ack(unit)
        elif self.failure is None:
            self._failed(err)

    def _delivered_untracked(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.acked += 1
        elif self.failure is None:
            self._failed(err)

    def _failed(self, err: Any) -> None:
        self.failure = err.str()
        self.failure_transient = err.code() in TRANSIENT or self.producer.fatal is not None

    # -- control ----------------------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports (raising a failure's ``DeliveryFailed``), then produce what waits for room."""
        self.producer.poll(timeout)
        if self.failure is not None:
            raise _failure(f"Kafka did not acknowledge a change ({self.failure})", self.failure_transient)
        if self.waiting:
            self._produce_waiting()

    def flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.waiting and time.monotonic() < deadline:
            self.poll(0.05)
        if self.waiting:
            raise DeliveryFailed(f"{len(self.waiting)} change(s) still waited for room in the Kafka producer's queue "
                                 f"after {timeout:.0f} s — the slot was not advanced past them; a restart replays "
                                 "them", transient=True)
        try:
            self.producer.flush(max(0.0, deadline - time.monotonic()))
        except DeliveryError as exc:
            self.poll(0)  # a failure's delivery report says whether it is transient
            raise DeliveryFailed(f"{exc} — the slot was not advanced past them; a restart replays them",
                                 transient=exc.still_queued > 0) from None
        self.poll(0)

    def discard(self) -> None:
        """End this producer for good (after a failure): drop what it still queues, release it.

        Nothing it held is confirmed, so the next session replays all of it from the slot through a
        new producer; dropping the queue first keeps the old one from writing after the replay.
        """
        self.waiting.clear()
        with contextlib.suppress(Exception):
            self.producer.raw.purge(in_queue=True, in_flight=True)
        with contextlib.suppress(Exception):
            self.producer.close(0)

    def pending(self) -> int:
        return len(self.producer)

    def close(self, timeout: float = 10.0) -> None:
        never_queued = len(self.waiting)
        self.waiting.clear()
        try:
            self.producer.close(timeout)
        except DeliveryError as exc:
            raise DeliveryFailed(f"{exc} — the slot was not advanced past them; a restart replays them") from None
        if never_queued:
            raise DeliveryFailed(f"{never_queued} change(s) never reached the Kafka producer's full queue — the slot "
                                 "was not advanced past them; a restart replays them")


def _failure(what: str, transient: bool) -> DeliveryFailed:
    then = ("the relay replaces its producer and replays it from the slot" if transient
            else "the relay stops; a restart replays it from the slot")
    return DeliveryFailed(f"{what}; it was not confirmed — {then}", transient=transient)
