"""Where envelopes go: Kafka through the shared producer and serde.

Every record of a transaction is counted in its ``Unit`` before it is produced and acknowledged in
the delivery report, which is what lets the relay confirm an LSN only once Kafka holds everything
before it. A failed delivery is not retried here (that would reorder a key): the relay stops, the
slot was not advanced past the record, and the restart replays it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from eventbus.exceptions import BrokerUnavailableError, DeliveryError
from eventbus.kafka import Producer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.cdc.envelope import Change
from lambdas.cdc.exceptions import DeliveryFailed, SetupError
from lambdas.cdc.inflight import InFlight, Unit


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
        self.producer = Producer(settings, client_id="cdc-relay", **(producer_overrides or {}))
        self.failure: str | None = None
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
        self._produce(self.kafka_topic, value, key, headers, callback)

    def send_encoded(self, key: bytes, value: bytes, unit: Unit) -> None:
        """An envelope already framed (``transcode.py``)."""
        self.inflight.add(unit)
        self._produce(self.kafka_topic, value, key, None, partial(self._delivered, unit))

    def _delivered(self, unit: Unit, err: Any, _msg: Any) -> None:
        if err is None:
            self.acked += 1
            self.inflight.ack(unit)
        elif self.failure is None:
            self.failure = err.str()

    def _delivered_untracked(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.acked += 1
        elif self.failure is None:
            self.failure = err.str()

    # -- control ----------------------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> None:
        self.producer.poll(timeout)
        if self.failure is not None:
            raise DeliveryFailed(
                f"Kafka did not acknowledge a change ({self.failure}); stopping without confirming it — "
                "the restart replays from the slot"
            )

    def flush(self, timeout: float) -> None:
        try:
            self.producer.flush(timeout)
        except DeliveryError as exc:
            raise DeliveryFailed(f"{exc} — the slot was not advanced past them; a restart replays them") from None
        self.poll(0)

    def pending(self) -> int:
        return len(self.producer)

    def close(self, timeout: float = 10.0) -> None:
        try:
            self.producer.close(timeout)
        except DeliveryError as exc:
            raise DeliveryFailed(f"{exc} — the slot was not advanced past them; a restart replays them") from None

