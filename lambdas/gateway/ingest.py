"""The gateway's work, independent of HTTP: enrich, encode, produce, wait for the acknowledgement.

One ``Gateway`` per process (uvicorn worker or Lambda container) holds the producer, serde, keys and
counters::

    gw = Gateway(settings, GatewayConfig())  # requests are parsed in parsing.py
    event_id, outcome = await gw.ingest_one(AppEventIn.model_validate_json(body), meta)
    results = await gw.ingest_batch(validate_items(orjson.loads(body)["events"]), meta)  # parsing.py
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException

from eventbus.exceptions import SchemaValidationError, local_hint
from eventbus.kafka import Producer
from eventbus.logging import get_logger
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.gateway.auth import ApiKeys
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.delivery import Ack, AckingProducer, NotAcknowledged
from lambdas.gateway.ids import new_event_id
from lambdas.gateway.metrics import GatewayCounters
from lambdas.gateway.models import AppEventIn, Validated, to_record

log = get_logger("gateway")


class EventTooFarAhead(Exception):
    """``event_ts`` is further ahead of the gateway's clock than the catalog's ``max_future_skew_s``:
    a client clock that would move every consumer's watermark (answered 422 naming ``event_ts``)."""


@dataclass(frozen=True, slots=True)
class ClientMeta:
    request_id: str
    client_ip: str | None
    user_agent: str | None


def make_producer(settings: Settings, config: GatewayConfig, **extra: Any) -> Producer:
    """The shared producer with the gateway's deadlines: fail undelivered messages before answering."""
    overrides: dict[str, Any] = {
        "delivery.timeout.ms": config.delivery_timeout_ms,
        "request.timeout.ms": min(30_000, config.delivery_timeout_ms),
        # Reconnect within a second once the broker is back (default backs off to 10 s).
        "reconnect.backoff.max.ms": 1000,
    }
    if config.linger_ms is not None:
        overrides["linger.ms"] = config.linger_ms
    overrides.update(extra)
    return Producer(
        settings, client_id=f"gateway-{os.getpid()}", background_poll=True, enqueue_timeout=0.0, **overrides
    )


class Gateway:
    def __init__(
        self,
        settings: Settings,
        config: GatewayConfig | None = None,
        *,
        producer: Producer | None = None,
        serde: AvroSerde | None = None,
        keys: ApiKeys | None = None,
    ) -> None:
        self.settings = settings
        self.config = config or GatewayConfig()
        self.topic = self.config.topic
        self.serde = serde if serde is not None else AvroSerde(settings)
        # The shared serde's compiled encoder; event_id is unique per record (no string-cache slot).
        self.encode = self.serde.encoder(self.topic, unique_fields=("event_id",))
        # The catalog's event-time contract (schemas/topics.yaml ``event_time``): consumers clamp event
        # time to received_ts + skew; the gateway refuses what would be clamped, so the client hears it.
        spec = self.serde.catalog.get(self.topic)
        self.max_ahead_ms = spec.event_time.max_future_skew_ms if spec.event_time else None
        self.keys = keys if keys is not None else ApiKeys.from_settings(settings, self.config.key_refresh_s)
        # (not `producer or ...`: a Producer with nothing queued has len() 0 and is falsy)
        self.producer = producer if producer is not None else make_producer(settings, self.config)
        self.acks = AckingProducer(self.producer, self.config.ack_timeout_ms / 1000)
        self.metrics = GatewayCounters()
        self._ready: tuple[float, bool, str] = (-1e9, False, "not probed yet")
        self._ready_lock = asyncio.Lock()

    # -- single events -----------------------------------------------------------------------------
    def _record(self, event: AppEventIn, meta: ClientMeta, received_ts: int) -> tuple[str, dict[str, Any]]:
        event_id = event.event_id or new_event_id()
        return event_id, to_record(
            event, event_id=event_id, received_ts=received_ts, client_ip=meta.client_ip, user_agent=meta.user_agent
        )

    def too_far_ahead(self, event_ts: int, received_ts: int) -> str | None:
        """Why ``event_ts`` is refused (the problem text for field ``event_ts``), or None."""
        if self.max_ahead_ms is None or event_ts <= received_ts + self.max_ahead_ms:
            return None
        ahead_s = (event_ts - received_ts) / 1000
        return (f"is {ahead_s:,.0f} s ahead of the gateway's clock; at most {self.max_ahead_ms // 1000} s "
                "ahead is accepted (check the client's clock and that it sends milliseconds)")

    async def ingest_one(self, event: AppEventIn, meta: ClientMeta) -> tuple[str, Ack | NotAcknowledged]:
        """Produce one validated event; ``SchemaValidationError`` if it cannot be encoded,
        ``EventTooFarAhead`` if its ``event_ts`` is beyond the allowed clock skew."""
        received_ts = time.time_ns() // 1_000_000
        problem = self.too_far_ahead(event.event_ts, received_ts)
        if problem is not None:
            raise EventTooFarAhead(problem)
        event_id, record = self._record(event, meta, received_ts)
        value = self.encode(record)
        outcome = await self.acks.send(self.topic, event.user_id, value)
        self._count(outcome)
        return event_id, outcome

    def _count(self, outcome: Ack | NotAcknowledged) -> None:
        m = self.metrics
        if type(outcome) is Ack:
            m.events_accepted += 1
        else:
            m.events_failed += 1
            m.events_possibly_persisted += outcome.possibly_persisted  # type: ignore[union-attr]

    # -- batches ------------------------------------------------------------------------------------
    async def ingest_batch(self, items: Validated, meta: ClientMeta) -> list[dict[str, Any]]:
        """One result per item, in order: accepted (acknowledged), rejected (invalid) or failed."""
        results: list[dict[str, Any]] = []
        sending: list[tuple[int, str]] = []  # (index into results, event_id)
        payload: list[tuple[str, bytes]] = []
        received_ts = time.time_ns() // 1_000_000
        encode = self.encode
        for i, item in enumerate(items):
            if type(item) is dict:
                results.append(item)
                continue
            event_id, record = self._record(item, meta, received_ts)  # type: ignore[arg-type]
            problem = self.too_far_ahead(item.event_ts, received_ts)  # type: ignore[union-attr]
            if problem is not None:
                results.append({"index": i, "status": "rejected", "event_id": event_id,
                                "reason": f"event_ts: {problem}"})
                continue
            try:
                value = encode(record)
            except SchemaValidationError as exc:
                results.append({"index": i, "status": "rejected", "event_id": event_id, "reason": str(exc)})
                continue
            results.append({"index": i, "status": "pending", "event_id": event_id})
            sending.append((i, event_id))
            payload.append((record["user_id"], value))

        outcomes = await self.acks.send_many(self.topic, payload)
        for (i, _eid), outcome in zip(sending, outcomes, strict=True):
            res = results[i]
            if type(outcome) is Ack:
                res["status"] = "accepted"
                res["partition"] = outcome.partition
                res["offset"] = outcome.offset
            else:
                res["status"] = "failed"
                res["reason"] = outcome.reason  # type: ignore[union-attr]
                res["possibly_persisted"] = outcome.possibly_persisted  # type: ignore[union-attr]
            self._count(outcome)
        self.metrics.events_rejected += len(items) - len(sending)
        return results

    # -- readiness ------------------------------------------------------------------------------------
    async def ready(self) -> tuple[bool, str]:
        """Is the broker reachable and the topic there? Probed at most every ``ready_cache_s``."""
        async with self._ready_lock:
            at, ok, detail = self._ready
            if time.monotonic() - at >= self.config.ready_cache_s:
                ok, detail = await asyncio.to_thread(self._probe)
                self._ready = (time.monotonic(), ok, detail)
            return ok, detail

    def _probe(self) -> tuple[bool, str]:
        bootstrap = self.settings.kafka_bootstrap
        # A client librdkafka declared fatally broken is replaced here too, not only by the next
        # message: the probe asks the client that message will use.
        self.producer.replace_if_fatal()
        try:
            md = self.producer.raw.list_topics(self.topic, timeout=2.0)
        except KafkaException as exc:
            detail = exc.args[0].str() if exc.args else exc
            return False, f"broker at {bootstrap} unreachable{local_hint(bootstrap)}: {detail}"
        topic = md.topics.get(self.topic)
        if topic is None or topic.error is not None:
            why = topic.error.str() if topic is not None and topic.error else "missing"
            return False, f"topic {self.topic} not usable on {bootstrap}: {why} (run `python -m lambdas.bootstrap`)"
        return True, f"broker {bootstrap} reachable, {self.topic} has {len(topic.partitions)} partitions"

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is still queued (already answered), then stop the producer's poll thread."""
        try:
            self.producer.close(timeout)
        except Exception as exc:
            log.warning("producer closed with undelivered messages (they were answered 503)", extra={"error": str(exc)})
