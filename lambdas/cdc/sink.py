"""Where envelopes go: Kafka through the shared producer and serde.

Every record of a transaction is counted in its ``Unit`` before it is produced and acknowledged in
the delivery report, which is what lets the relay confirm an LSN only once Kafka holds everything
before it. A failed delivery is not retried here (that would reorder a key): the session ends, the
slot was not advanced past the record, and the next session (a new producer, after a transient
failure) or the restart replays it.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from eventbus.exceptions import BrokerUnavailableError, DeliveryError
from eventbus.kafka import Producer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.cdc.envelope import Change
from lambdas.cdc.exceptions import DeliveryFailed, SetupError
from lambdas.cdc.inflight import InFlight, Unit

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
        self.producer = Producer(settings, client_id="cdc-relay", replace_on_fatal=False, **(producer_overrides or {}))
        self.failure: str | None = None
        self.failure_transient = False
        self.acked = 0
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
        try:
            self._produce(self.kafka_topic, value, key, headers, callback)
        except KafkaException as exc:
            raise self._refused(exc) from None

    def send_encoded(self, key: bytes, value: bytes, unit: Unit) -> None:
        """An envelope already framed (``transcode.py``)."""
        self.inflight.add(unit)
        try:
            self._produce(self.kafka_topic, value, key, None, partial(self._delivered, unit))
        except KafkaException as exc:
            raise self._refused(exc) from None

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
        self.producer.poll(timeout)
        if self.failure is not None:
            raise _failure(f"Kafka did not acknowledge a change ({self.failure})", self.failure_transient)

    def flush(self, timeout: float) -> None:
        try:
            self.producer.flush(timeout)
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
        with contextlib.suppress(Exception):
            self.producer.raw.purge(in_queue=True, in_flight=True)
        with contextlib.suppress(Exception):
            self.producer.close(0)

    def pending(self) -> int:
        return len(self.producer)

    def close(self, timeout: float = 10.0) -> None:
        try:
            self.producer.close(timeout)
        except DeliveryError as exc:
            raise DeliveryFailed(f"{exc} — the slot was not advanced past them; a restart replays them") from None


def _failure(what: str, transient: bool) -> DeliveryFailed:
    then = ("the relay replaces its producer and replays it from the slot" if transient
            else "the relay stops; a restart replays it from the slot")
    return DeliveryFailed(f"{what}; it was not confirmed — {then}", transient=transient)
