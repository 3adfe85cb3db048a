"""The Topics page: partitions, messages, retention/cleanup and the in-rate over the last 15 minutes.

A daemon thread samples every catalog topic's end offsets every ``sample_every_s`` seconds with one
long-lived consumer (watermark requests only, nothing is fetched); the in-rate of a topic between
two samples is the growth of its summed end offsets divided by the time between them.

    >>> sampler = RateSampler(clients); sampler.start()
    >>> sampler.overview()["topics"][0]["rate_per_s"]
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource

from eventbus.catalog import Catalog
from eventbus.logging import get_logger
from local.console.clients import Clients
from local.console.exceptions import DependencyError

log = get_logger("console.topics")
CONFIG_TTL_S = 60.0


def catalog_topics(catalog: Catalog) -> list[str]:
    """The topics the console shows: every catalog topic naming ``console`` among its ``readers``, in
    catalog order. A new catalog line with ``readers: [..., console]`` appears here with no console edit."""
    return catalog.read_by("console")


class RateSampler:
    def __init__(self, clients: Clients) -> None:
        self.clients = clients
        c = clients.console
        self.samples: deque[tuple[float, dict[str, dict[int, tuple[int, int]]]]] = deque(
            maxlen=int(c.rate_window_s / c.sample_every_s) + 2
        )
        self.error: str | None = None
        self._configs: tuple[float, dict[str, dict[str, str]]] = (0.0, {})
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Any = None

    # -- sampling -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="console-rates", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.clients.console.timeout_s + 2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except DependencyError as exc:
                self.error = str(exc)
            except Exception as exc:  # keep sampling; the page shows the error
                self.error = f"sampling end offsets failed: {exc}"
                log.warning(self.error)
            self._stop.wait(self.clients.console.sample_every_s)
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None

    def sample(self) -> dict[str, dict[int, tuple[int, int]]]:
        """Watermarks of every topic the console shows now (also appended to the rate window)."""
        timeout = self.clients.console.timeout_s
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._consumer is None:
                self._consumer = self.clients.consumer("rates")
            consumer = self._consumer
            marks: dict[str, dict[int, tuple[int, int]]] = {}
            try:
                meta = consumer.list_topics(timeout=timeout).topics
                for name in catalog_topics(self.clients.catalog):
                    tmeta = meta.get(name)
                    if tmeta is None:
                        continue
                    marks[name] = {
                        p: consumer.get_watermark_offsets(TopicPartition(name, p),
                                                          timeout=max(0.2, deadline - time.monotonic()))
                        for p in sorted(tmeta.partitions)
                    }
            except KafkaException as exc:
                raise self.clients.broker_error(exc) from exc
            self.samples.append((time.time(), marks))
            self.error = None
            return marks

    def configs(self, topics: list[str]) -> dict[str, dict[str, str]]:
        """Broker-side topic configs (cleanup.policy, retention.ms, ...), cached a minute."""
        at, cached = self._configs
        if time.monotonic() - at < CONFIG_TTL_S and set(topics) <= set(cached):
            return cached
        admin = self.clients.admin()
        timeout = self.clients.console.timeout_s
        try:
            futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics],
                                             request_timeout=timeout)
            got = {r.name: {k: v.value for k, v in f.result(timeout=timeout).items()} for r, f in futures.items()}
        except Exception as exc:
            raise self.clients.broker_error(exc) from exc
        self._configs = (time.monotonic(), got)
        return got

    # -- views ------------------------------------------------------------------------------------
    def latest(self) -> dict[str, dict[int, tuple[int, int]]] | None:
        """The newest sample's watermarks per topic and partition (None before the first sample)."""
        return self.samples[-1][1] if self.samples else None

    def series(self) -> dict[str, list[list[float]]]:
        """Per topic: [[unix seconds, records/s], ...] between consecutive samples."""
        samples = list(self.samples)
        out: dict[str, list[list[float]]] = {}
        for (t0, m0), (t1, m1) in itertools.pairwise(samples):
            dt = t1 - t0
            if dt <= 0:
                continue
            for topic, parts in m1.items():
                before = m0.get(topic, {})
                grown = sum(hi - before.get(p, (0, hi))[1] for p, (_lo, hi) in parts.items())
                out.setdefault(topic, []).append([round(t1, 3), round(max(0, grown) / dt, 3)])
        return out

    def overview(self, fresh: bool = False) -> dict[str, Any]:
        """The Topics page: one row per catalog topic plus the rate series."""
        if fresh or not self.samples or time.time() - self.samples[-1][0] > 3 * self.clients.console.sample_every_s:
            marks = self.sample()
        else:
            marks = self.samples[-1][1]
        shown = catalog_topics(self.clients.catalog)
        names = [t for t in shown if t in marks]
        configs = self.configs(names) if names else {}
        series = self.series()
        rows = []
        for spec in map(self.clients.catalog.get, shown):
            parts = marks.get(spec.name)
            cfg = configs.get(spec.name, {})
            last = series.get(spec.name, [])
            rows.append({
                "topic": spec.name,
                "present": parts is not None,
                "partitions": len(parts or {}),
                "catalog_partitions": spec.partitions,
                "messages": sum(hi - lo for lo, hi in (parts or {}).values()),
                "end_offset": sum(hi for _lo, hi in (parts or {}).values()),
                "cleanup_policy": cfg.get("cleanup.policy", spec.cleanup_policy),
                "retention_ms": int(cfg["retention.ms"]) if cfg.get("retention.ms") else spec.retention_ms,
                "key": spec.key,
                "schema": spec.schema_file.name,
                "rate_per_s": last[-1][1] if last else None,
            })
        return {"topics": rows, "series": series, "sample_every_s": self.clients.console.sample_every_s,
                "window_s": self.clients.console.rate_window_s, "sampled_at": self.samples[-1][0],
                "error": self.error}
