"""The one Kafka producer: idempotent, acks=all, every delivery report checked; loss is loud.

    >>> from eventbus.kafka import Producer
    >>> p = Producer(client_id="example")
    >>> p.produce("topic_app_logs", b"...", key="search-api")
    >>> p.flush()          # raises DeliveryError if anything was not acknowledged
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import confluent_kafka

from eventbus.exceptions import DeliveryError
from eventbus.kafka.config import producer_config
from eventbus.logging import get_logger
from eventbus.settings import Settings, get_settings

log = get_logger("eventbus.producer")
DeliveryCallback = Callable[[confluent_kafka.KafkaError | None, confluent_kafka.Message], None]


class Producer:
    """Wraps ``confluent_kafka.Producer`` with the project's delivery contract.

    * ``produce`` blocks (serving delivery reports) while the local queue is full, up to
      ``enqueue_timeout`` seconds, then raises ``BufferError`` — never drops.
    * Every delivery report is counted; failures are kept (last 100) and ``flush`` raises
      ``DeliveryError`` when any message since the previous flush failed or is still queued.
    * ``background_poll=True`` serves delivery reports from a daemon thread (for servers whose
      request path waits on per-message callbacks).
    * After librdkafka's fatal error (an idempotent producer whose sequence numbers are out of step
      with a restarted broker's) the client can never send again: with ``replace_on_fatal`` (the
      default) the next ``produce`` goes through a new client, and the old one is served until its
      last delivery report (failures: the queue librdkafka purged) has reached its callback. The CDC
      relay opts out: it replays from its slot through a new producer instead, keeping key order.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client_id: str = "eventbus",
        background_poll: bool = False,
        enqueue_timeout: float = 30.0,
        replace_on_fatal: bool = True,
        **overrides: Any,
    ) -> None:
        self.settings = settings or get_settings()
        # librdkafka's fatal error (the idempotent producer's state out of step with the broker's):
        # queued messages fail, later produce() calls raise; only a new instance sends again.
        self.fatal: str | None = None
        conf = producer_config(self.settings, client_id, overrides)
        conf["on_delivery"] = self._report
        log_error = conf["error_cb"]

        def on_error(err: Any) -> None:
            if err.fatal() and self.fatal is None:
                self.fatal = err.str()
            log_error(err)

        conf["error_cb"] = on_error
        self._conf = conf
        self.replace_on_fatal = replace_on_fatal
        self.replacements = 0
        self._retired: tuple[confluent_kafka.Producer, ...] = ()  # replaced clients with reports to serve
        self._replace_lock = threading.Lock()
        self._producer = confluent_kafka.Producer(conf)
        self.enqueue_timeout = enqueue_timeout
        self.delivered = 0
        self.failed = 0
        self._failed_since_flush = 0
        self._errors: deque[str] = deque(maxlen=100)
        self._last_error_log = 0.0
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None
        if background_poll:
            self._poller = threading.Thread(target=self._poll_loop, name=f"{client_id}-poll", daemon=True)
            self._poller.start()

    # -- delivery reports ---------------------------------------------------------------------
    def _report(self, err: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        self._failed_since_flush += 1
        detail = f"{msg.topic()}: {err.str()}"
        self._errors.append(detail)
        # One line per second at most: an outage fails thousands of messages at once.
        now = time.monotonic()
        if now - self._last_error_log >= 1.0:
            log.error(
                "delivery failed",
                extra={"topic": msg.topic(), "error": err.str(), "failed_total": self.failed},
            )
            self._last_error_log = now

    def _report_then(self, user: DeliveryCallback, err: Any, msg: Any) -> None:
        self._report(err, msg)
        user(err, msg)

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._producer.poll(0.05)
                if self._retired:
                    self._serve_retired()
            except Exception:  # a user delivery callback raised: keep serving the others
                log.exception("delivery callback raised")

    # -- fatal errors ------------------------------------------------------------------------
    def replace_if_fatal(self) -> bool:
        """Switch to a new client now if librdkafka declared this one fatally broken (and the producer
        replaces on fatal errors); True when it did. ``produce`` does this itself; a health probe calls
        it so that it asks the client the next message will use, not the broken one."""
        if self.fatal is None or not self.replace_on_fatal:
            return False
        return self._replace()

    def _replace(self) -> bool:
        """A new client for the one librdkafka declared fatally broken (see the class docstring)."""
        with self._replace_lock:
            reason = self.fatal
            if reason is None:  # another thread replaced it meanwhile
                return False
            old = self._producer
            self._producer = confluent_kafka.Producer(self._conf)
            self._retired = (*self._retired, old)
            self.fatal = None
            self.replacements += 1
        log.error(
            "producer replaced after a fatal error; what the old one held fails in its delivery reports",
            extra={"error": reason, "replacements": self.replacements},
        )
        return True

    def _serve_retired(self) -> None:
        keep = []
        for old in self._retired:
            old.poll(0)
            if len(old):
                keep.append(old)
        if len(keep) != len(self._retired):
            with self._replace_lock:
                self._retired = tuple(r for r in self._retired if r in keep)

    # -- API -------------------------------------------------------------------------------
    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: str | bytes | None = None,
        headers: dict[str, bytes] | list[tuple[str, bytes]] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Enqueue one message; ``on_delivery(err, msg)`` runs after the project's own accounting."""
        self.replace_if_fatal()
        kwargs: dict[str, Any] = {"headers": headers} if headers else {}
        if on_delivery is not None:
            # A C-level partial, not a closure per message: this is the gateway's hot path.
            kwargs["on_delivery"] = functools.partial(self._report_then, on_delivery)
        deadline = None
        while True:
            try:
                self._producer.produce(topic, value, key, **kwargs)
                return
            except BufferError:
                # Local queue full: serve delivery reports to make room (backpressure, not loss).
                deadline = deadline or time.monotonic() + self.enqueue_timeout
                if time.monotonic() > deadline:
                    raise
                self._producer.poll(0.05)

    def poll(self, timeout: float = 0) -> int:
        """Serve delivery reports; returns how many were served."""
        if self._retired:
            self._serve_retired()
        return self._producer.poll(timeout)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for every queued message; raise ``DeliveryError`` if any was not acknowledged."""
        deadline = time.monotonic() + timeout
        for old in self._retired:
            old.flush(max(0.0, deadline - time.monotonic()))
        if self._retired:
            self._serve_retired()
        remaining = self._producer.flush(max(0.0, deadline - time.monotonic())) + sum(len(r) for r in self._retired)
        failed, self._failed_since_flush = self._failed_since_flush, 0
        if remaining or failed:
            errors = list(self._errors)[-failed:] if failed else []
            raise DeliveryError(remaining + failed, errors, still_queued=remaining)

    def __len__(self) -> int:
        """Messages queued or in flight."""
        return len(self._producer) + sum(len(r) for r in self._retired)

    def __bool__(self) -> bool:  # an idle producer (len 0) is still a producer
        return True

    @property
    def errors(self) -> list[str]:
        return list(self._errors)

    def close(self, timeout: float = 30.0) -> None:
        """Flush (raising on loss), stop the background poller and release the client's connections."""
        if self._closed.is_set():
            return
        try:
            self.flush(timeout)
        finally:
            self._closed.set()
            if self._poller is not None:
                self._poller.join(timeout=1)
            close = getattr(self._producer, "close", None)  # confluent-kafka >= 2.x
            if close is not None:
                close()

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def raw(self) -> confluent_kafka.Producer:
        """The underlying client (for metadata calls such as ``list_topics``)."""
        return self._producer
