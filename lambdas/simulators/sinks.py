"""Where records go: the gateway (HTTP), Kafka directly (Avro, acked), JSON lines (file/stdout), discard.

Every sink counts ``delivered``, ``failed`` (gave up), ``rejected`` (refused as invalid — a bug, logged
loudly) and ``retries``. An outage is retried with exponential backoff until it ends or the run stops;
what is still undelivered then is counted and reported by ``close()`` — never silently dropped.

    >>> sink = KafkaSink(settings)
    >>> sink.send("topic_clickstream", [("s-1", record)])
    >>> sink.close()          # flushes; returns the counters
"""

from __future__ import annotations

import functools
import json
import logging
import random
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from eventbus.exceptions import DeliveryError
from eventbus.logging import get_logger
from eventbus.settings import Settings
from lambdas.simulators.exceptions import ScenarioError, SinkError
from lambdas.simulators.sources.base import Keyed

log = get_logger("simulators.sinks")
SERVER_FIELDS = ("received_ts", "client_ip", "user_agent")  # set by the gateway, never posted
BOOKING_ROUTE_TYPES = frozenset({"booking_view", "booking_created", "booking_confirmed", "booking_cancelled",
                                 "payment_submitted"})


class Backoff:
    """Exponential backoff with jitter: 0.2 s, 0.4 s, … capped at ``cap``; ``Retry-After`` wins."""

    def __init__(self, base: float = 0.2, cap: float = 10.0, rng: random.Random | None = None) -> None:
        self.base, self.cap, self.attempt = base, cap, 0
        self.rng = rng or random.Random()

    def next(self, retry_after: float | None = None) -> float:
        delay = min(self.cap, self.base * 2**self.attempt) * (0.5 + self.rng.random() / 2)
        self.attempt += 1
        return max(delay, min(retry_after or 0.0, 60.0))

    def reset(self) -> None:
        self.attempt = 0


class Sink(ABC):
    name: str = "sink"

    def __init__(self) -> None:
        self.delivered = self.failed = self.rejected = self.retries = 0
        #: refusals planned by fault injection (future-dated beyond the skew): not loss, not a bug
        self.refused = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        #: the run's TruthRecorder (truth.py): told about every acknowledged record, None = no truth
        self.tap: Any = None
        #: ids the fault injector dated beyond the skew: a 422 for them is planned (faults.py)
        self.planned_refusals: set[str] = set()

    def _tap_all(self, topic: str | None, batch: list[Keyed]) -> None:
        if self.tap is not None:
            for _, rec in batch:
                self.tap.delivered(topic, rec)

    @abstractmethod
    def send(self, topic: str | None, batch: list[Keyed]) -> None:
        """Deliver ``batch``; blocks (retrying with backoff) during an outage until ``stopping`` is set."""

    def poll(self) -> None:  # noqa: B027 - optional hook
        """Serve delivery reports (Kafka)."""

    def counters(self) -> dict[str, int]:
        c = {"delivered": self.delivered, "failed": self.failed, "rejected": self.rejected,
             "retries": self.retries, "pending": self.pending()}
        if self.refused:  # only when the scenario injects future-dated events
            c["refused"] = self.refused
        return c

    def pending(self) -> int:
        return 0

    def close(self, timeout: float = 30.0) -> dict[str, int]:
        return self.counters()

    def _wait(self, backoff: Backoff, retry_after: float | None = None) -> bool:
        """Sleep the backoff delay; False when the run is stopping (then the caller gives up)."""
        with self._lock:
            self.retries += 1
        return not self.stopping.wait(backoff.next(retry_after))


class DiscardSink(Sink):
    """Counts and discards (the OLTP operation log by default; dry runs)."""

    name = "discard"

    def send(self, topic: str | None, batch: list[Keyed]) -> None:
        with self._lock:
            self.delivered += len(batch)
        self._tap_all(topic, batch)


class JsonLinesSink(Sink):
    """One JSON object per line: ``{"topic", "key", "value"}`` to a file or stdout."""

    name = "jsonl"

    def __init__(self, path: str | Path | None = None, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.path = Path(path) if path else None
        self._own = self.path is not None
        try:
            self._out: IO[str] = open(self.path, "a", encoding="utf-8") if self.path else (stream or sys.stdout)  # noqa: SIM115
        except OSError as exc:  # checked before a CLI run (wiring.preflight); the handler's runs land here
            raise ScenarioError(f"file.path {self.path}: cannot open ({exc.strerror}) — create its folder or "
                                "name another file (--out)") from None
        self.name = f"jsonl:{self.path}" if self.path else "stdout"

    def send(self, topic: str | None, batch: list[Keyed]) -> None:
        text = "".join(json.dumps({"topic": topic, "key": k, "value": v}, default=str, ensure_ascii=False) + "\n"
                       for k, v in batch)
        with self._lock:
            self._out.write(text)
            self.delivered += len(batch)
        self._tap_all(topic, batch)

    def close(self, timeout: float = 30.0) -> dict[str, int]:
        with self._lock:
            self._out.flush()
            if self._own:
                self._out.close()
        return self.counters()


class KafkaSink(Sink):
    """Avro (Glue wire format) straight to the catalog topic, through the shared idempotent producer.

    Records are encoded by the shared serde's schema-compiled encoder (``AvroSerde.encoder``) with
    ``encoder="compiled"``, or by fastavro alone with ``"fastavro"`` (the comparison in the benchmark).
    A record the compiled encoder cannot take falls back to fastavro, which raises
    ``SchemaValidationError`` naming the field. When the broker is down, librdkafka retries with
    backoff; once its queue is full ``send`` blocks (backpressure, counted in ``retries``) — no loss.
    """

    name = "kafka"

    def __init__(self, settings: Settings, *, encoder: str = "compiled", producer: Any = None,
                 serde: Any = None, topic_prefix: str = "", **producer_overrides: Any) -> None:
        super().__init__()
        from eventbus.kafka import Producer
        from eventbus.serde import AvroSerde

        self.settings = settings
        self.serde = serde or AvroSerde(settings)
        self.producer = producer or Producer(settings, client_id="simulators", enqueue_timeout=5.0,
                                             **producer_overrides)
        self.encoder = encoder
        self.topic_prefix = topic_prefix
        self._encoders: dict[str, Callable[[dict[str, Any]], bytes]] = {}

    def encoder_for(self, topic: str, unique_fields: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], bytes]:
        """The topic's encoder: the shared serde's compiled one, or plain fastavro with ``"fastavro"``."""
        enc = self._encoders.get(topic)
        if enc is None:
            if self.encoder == "compiled":
                enc = self.serde.encoder(topic, unique_fields)
            else:
                enc = lambda rec, _t=topic: self.serde.encode_fastavro(_t, rec)  # noqa: E731
            self._encoders[topic] = enc
        return enc

    def send(self, topic: str | None, batch: list[Keyed]) -> None:
        if topic is None:
            raise SinkError("the kafka sink needs a topic (this source writes no Kafka records)")
        enc = self.encoder_for(topic)
        p = self.producer
        target = self.topic_prefix + topic
        if self.tap is not None and self.tap.wants(topic):
            self._send_tapped(topic, target, enc, batch)
            return
        raw = p.raw.produce
        for key, rec in batch:
            value = enc(rec)
            try:
                raw(target, value, key)  # delivery reports go to the shared Producer's accounting
            except BufferError:
                self._produce_blocking(target, value, key)
        p.poll(0)

    def _send_tapped(self, topic: str, target: str, enc: Callable[[dict[str, Any]], bytes], batch: list[Keyed]) -> None:
        """Each record with its own delivery callback: the truth learns what was acknowledged, and when."""
        for key, rec in batch:
            on_delivery = functools.partial(self._acked, topic, rec)
            value = enc(rec)
            try:
                self.producer.produce(target, value, key, on_delivery=on_delivery)
            except BufferError:
                self._produce_blocking(target, value, key, on_delivery)
        self.producer.poll(0)

    def _acked(self, topic: str, rec: dict[str, Any], err: Any, msg: Any) -> None:
        if err is None:
            self.tap.delivered(topic, rec, kafka_ts=msg.timestamp()[1])

    def send_encoded(self, topic: str, batch: list[tuple[str, bytes]]) -> None:
        """Records already in the wire format (replay mode)."""
        p = self.producer
        raw = p.raw.produce
        target = self.topic_prefix + topic
        for key, value in batch:
            try:
                raw(target, value, key)
            except BufferError:
                self._produce_blocking(target, value, key)
        p.poll(0)

    def _produce_blocking(self, topic: str, value: bytes, key: str, on_delivery: Any = None) -> None:
        backoff = Backoff(cap=5.0)
        while True:
            try:
                self.producer.produce(topic, value, key, on_delivery=on_delivery)  # serves reports while it waits
                return
            except BufferError:
                log.warning("producer queue full: broker %s not taking messages; waiting",
                            self.settings.kafka_bootstrap)
                if not self._wait(backoff):
                    with self._lock:
                        self.failed += 1
                    return

    def poll(self) -> None:
        self.producer.poll(0)

    def pending(self) -> int:
        return len(self.producer)

    def counters(self) -> dict[str, int]:
        c = super().counters()
        c["delivered"] = self.producer.delivered
        c["failed"] = self.failed + self.producer.failed
        return c

    def close(self, timeout: float = 30.0) -> dict[str, int]:
        try:
            self.producer.flush(timeout)
        except DeliveryError as exc:
            log.error("kafka: %s", exc)
            with self._lock:
                # still queued at the deadline, as flush counted it (delivery reports count the rest); not
                # len(producer) afterwards, which also counts client events (e.g. a broker-down error) queued since
                self.failed += exc.still_queued
        return self.counters()


class GatewaySink(Sink):
    """POSTs app events to the gateway: ``/events/user`` or ``/events/booking`` one at a time, or
    ``/events/batch`` (≤ ``batch_max``) when several are due at once.

    5xx, 429 and connection errors are retried with exponential backoff (``Retry-After`` honoured; the
    same ``event_id`` is re-sent, so consumers de-duplicate). Per-event results of a batch are read:
    only the ``failed`` events are re-sent, ``rejected`` ones are counted and logged. A 401 stops the run
    with a message naming the setting to fix.
    """

    name = "gateway"

    def __init__(self, url: str, api_key: str, *, batch_max: int = 500, timeout_s: float = 10.0) -> None:
        super().__init__()
        import httpx

        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
        self._httpx = httpx
        self.url = url.rstrip("/")
        self.batch_max = batch_max
        self._headers = {"x-api-key": api_key, "content-type": "application/json"}
        self._timeout = timeout_s
        self._local = threading.local()
        self._clients: list[Any] = []
        self._topic: str | None = "topic_app_events"  # what it posts; send() passes the source's topic
        try:
            import orjson

            self._dumps: Callable[[Any], bytes] = orjson.dumps
        except ImportError:  # pragma: no cover - orjson comes with the gateway extra
            self._dumps = lambda obj: json.dumps(obj, separators=(",", ":")).encode()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:  # one keep-alive client per source thread
            client = self._httpx.Client(base_url=self.url, headers=self._headers, timeout=self._timeout)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def send(self, topic: str | None, batch: list[Keyed]) -> None:
        events = [{k: v for k, v in rec.items() if k not in SERVER_FIELDS} for _, rec in batch]
        self._topic = topic
        if len(events) == 1:
            self._post_one(events[0], batch[0][1].get("user_agent"))
            return
        for i in range(0, len(events), self.batch_max):
            self._post_batch(events[i:i + self.batch_max])

    def _accepted(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self.delivered += len(events)
        if self.tap is not None:
            answered = time.time_ns() // 1_000_000
            for ev in events:
                self.tap.delivered(self._topic, ev, answered_ms=answered)

    def _refused(self, events: list[dict[str, Any]], detail: str) -> None:
        """Split refusals into planned ones (fault injection, future-dated) and the rest (a bug: loud)."""
        planned = [e for e in events if str(e.get("event_id")) in self.planned_refusals]
        if planned:
            with self._lock:
                self.refused += len(planned)
            if self.tap is not None:
                for ev in planned:
                    self.tap.refused(self._topic, ev)
        if len(planned) < len(events):
            self._rejected(len(events) - len(planned), detail)

    def _post(self, path: str, body: Any, user_agent: str | None = None) -> tuple[Any, float | None]:
        """(response or None on a connection error, Retry-After seconds)."""
        headers = {"user-agent": user_agent} if user_agent else None
        try:
            resp = self._client().post(path, content=self._dumps(body), headers=headers)
        except self._httpx.TransportError as exc:
            log.warning("gateway %s unreachable: %s", self.url, exc)
            return None, None
        if resp.status_code in (401, 403):
            raise SinkError(f"gateway {self.url} refused the API key ({resp.status_code}) — set EB_GATEWAY_API_KEYS "
                            "(the key the simulators send) to one the gateway accepts")
        retry_after = resp.headers.get("retry-after")
        return resp, float(retry_after) if retry_after and retry_after.isdigit() else None

    def _post_one(self, event: dict[str, Any], user_agent: str | None) -> None:
        booking = event["event_type"] in BOOKING_ROUTE_TYPES and event.get("booking_id") is not None
        path = "/events/booking" if booking else "/events/user"
        backoff = Backoff()
        while True:
            resp, retry_after = self._post(path, event, user_agent)
            if resp is not None:
                if resp.status_code < 300:
                    self._accepted([event])
                    return
                if resp.status_code != 429 and resp.status_code < 500:
                    self._refused([event], resp.text)
                    return
                log.warning("gateway answered %s; retrying", resp.status_code)
            if not self._wait(backoff, retry_after):
                with self._lock:
                    self.failed += 1
                return

    def _post_batch(self, events: list[dict[str, Any]]) -> None:
        backoff = Backoff()
        pending = events
        while pending:
            resp, retry_after = self._post("/events/batch", {"events": pending})
            if resp is not None:
                if resp.status_code == 413 and len(pending) > 1:  # over the gateway's byte limit: split
                    half = len(pending) // 2
                    self._post_batch(pending[:half])
                    self._post_batch(pending[half:])
                    return
                results = self._results(resp)
                if results is None and resp.status_code != 429 and resp.status_code < 500:
                    self._refused(pending, resp.text)
                    return
                if results is not None:
                    accepted = [pending[r["index"]] for r in results if r.get("status") == "accepted"]
                    rejected = [r for r in results if r.get("status") == "rejected"]
                    self._accepted(accepted)
                    if rejected:
                        self._refused([pending[r["index"]] for r in rejected], str(rejected[0].get("reason")))
                    pending = [pending[r["index"]] for r in results if r.get("status") == "failed"]
                    if not pending:
                        return
                log.warning("gateway batch: %d event(s) not acknowledged (%s); retrying", len(pending),
                            resp.status_code)
            if not self._wait(backoff, retry_after):
                with self._lock:
                    self.failed += len(pending)
                return

    @staticmethod
    def _results(resp: Any) -> list[dict[str, Any]] | None:
        try:
            doc = resp.json()
        except ValueError:
            return None
        results = doc.get("results") if isinstance(doc, dict) else None
        return results if isinstance(results, list) else None

    def _rejected(self, n: int, detail: str) -> None:
        with self._lock:
            self.rejected += n
        log.error("gateway rejected %d event(s) (a simulator bug): %s", n, detail[:500])

    def close(self, timeout: float = 30.0) -> dict[str, int]:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
        return self.counters()
