"""Ground truth, recorded as the sinks deliver and published as data (``topic_truth``, schema ``truth.avsc``).

Delivered means acknowledged: a Kafka delivery report without error, a 2xx (or ``accepted`` in a batch)
from the gateway, a committed OLTP transaction. Nothing else is recorded. What is kept:

* **app events / clickstream** — per one-minute bucket of *effective* event time (the catalog's
  ``event_time``: ``least(event_ts, trusted + max_future_skew_s)``), each ``dedup_key`` once: counts per
  entity (``event_type=…``, ``platform=…``, ``destination=…``; ``page=…``, ``element=…``) and, for the
  funnel, the sessions per step. An event more than ``late_after_s`` behind the newest effective time
  delivered so far is kept one by one with that newest time (``late``), so verify can decide per window
  whether the watermark let it in. Buckets (not windows) keep the truth independent of the jobs' window
  sizes: ``lambdas/verify`` sums them into whatever windows the jobs use.
* **bookings** — the last committed status and payment status of every booking this run wrote.
* **the run** — scenario, seed, the event-time span it covers, a heartbeat, and ``ended`` once closed.

Keys (the topic is compacted, so the last value per key is the truth): ``app_events|<bucket>|<run_id>``,
``clickstream|<bucket>|<run_id>``, ``booking|<booking_id>``, ``run|<run_id>``. A restart is a new run
id; runs add up. A crash loses at most ``publish_every_s`` of truth, and the run's heartbeat says so.

    >>> rec = TruthRecorder(TruthSpec(enabled=True), catalog, publisher, run_meta)
    >>> rec.delivered("topic_clickstream", click, kafka_ts=1_700_000_000_000)
    >>> rec.close()        # publishes everything, ended=True
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from eventbus.catalog import KAFKA_TIMESTAMP, Catalog
from lambdas.simulators.scenario import TruthSpec

log = logging.getLogger("simulators.truth")
TRUTH_TOPIC = "topic_truth"
BUCKET_MS = 60_000
#: What each truth kind counts, per source topic: (kind, entity fields). The app_events job's dimensions
#: and the clickstream job's (emr_jobs/app_events.py DIMENSIONS, emr_jobs/clickstream.py; a unit test
#: keeps them in step — the simulators do not import the jobs).
KINDS = {
    "topic_app_events": ("app_events", (("event_type", "event_type"), ("platform", "platform"),
                                        ("destination", "destination"))),
    "topic_clickstream": ("clickstream", (("page", "page_url"), ("element", "element_id"))),
}
#: The app_events job's funnel steps (emr_jobs/app_events.py FUNNEL).
FUNNEL_STEPS = ("search", "booking_view", "booking_created")
MAX_IDS = 2_000_000  # dedup ids remembered per topic (a re-send comes seconds later, not hours)
MAX_BUCKETS = 3_000  # per kind: ~2 days of minutes


class Publisher(Protocol):
    def publish(self, records: list[tuple[str, dict[str, Any]]]) -> None: ...
    def close(self) -> None: ...


def iso_minute(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class Bucket:
    counts: Counter[str] = field(default_factory=Counter)
    sessions: dict[str, set[str]] = field(default_factory=dict)
    late: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    refused: int = 0
    clamped: int = 0


@dataclass
class RunMeta:
    run_id: str
    scenario: str
    seed: int
    stream: int
    topic_prefix: str
    start_ms: int  # simulated start: the first event time the run covers
    faults: dict[str, float] = field(default_factory=dict)


class TruthRecorder:
    """Thread-safe: the sinks call it from their delivery paths; a timer publishes what changed."""

    def __init__(self, spec: TruthSpec, catalog: Catalog, publisher: Publisher, meta: RunMeta) -> None:
        self.spec, self.catalog, self.publisher, self.meta = spec, catalog, publisher, meta
        self.late_after_ms = int(spec.late_after_s * 1000)
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, int], Bucket] = {}
        self._dirty: set[tuple[str, int]] = set()
        self._ids: dict[str, dict[str, None]] = {t: {} for t in KINDS}
        self._max_seen: dict[str, int] = {}
        self._bookings: dict[str, dict[str, Any]] = {}
        self._dirty_bookings: set[str] = set()
        self.n: Counter[str] = Counter()
        self.started_wall = _now()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publish_lock = threading.Lock()
        self.ended = False

    # -- what the sinks report ------------------------------------------------------------------------
    def wants(self, topic: str | None) -> bool:
        return topic in KINDS

    def delivered(self, topic: str | None, rec: dict[str, Any], *, kafka_ts: int | None = None,
                  answered_ms: int | None = None) -> None:
        """``rec`` was acknowledged. ``kafka_ts``: its Kafka timestamp; ``answered_ms``: when the gateway answered."""
        if topic is None:
            if rec.get("table") == "bookings":
                self._booking(rec)
            return
        kind_fields = KINDS.get(topic)
        if kind_fields is None:
            return
        kind, fields = kind_fields
        spec = self.catalog.get(topic)
        et, dedup = spec.event_time, spec.dedup_key
        assert et is not None and dedup is not None, f"{topic}: the catalog gives no event_time/dedup_key"
        if et.trusted == KAFKA_TIMESTAMP:
            trusted = kafka_ts if kafka_ts is not None else _now()
        else:  # a field the gateway sets (received_ts); stripped before posting, so: when it answered
            trusted = rec.get(et.trusted) or answered_ms or _now()
        event_ms = int(rec[et.field])
        eff = et.effective_ms(event_ms, int(trusted))
        entities = [f"{name}={rec[f]}" for name, f in fields if rec.get(f) is not None]
        step = rec.get("event_type") if kind == "app_events" and rec.get("event_type") in FUNNEL_STEPS else None
        ident = str(rec[dedup])
        with self._lock:
            b = self._bucket(kind, eff)
            ids = self._ids[topic]
            if ident in ids:
                b.duplicates += 1
                self.n[f"{kind}_duplicates"] += 1
                return
            ids[ident] = None
            if len(ids) > MAX_IDS:
                del ids[next(iter(ids))]
            if eff < event_ms:
                b.clamped += 1
                self.n[f"{kind}_clamped"] += 1
            max_seen = self._max_seen.get(kind)
            if max_seen is not None and eff < max_seen - self.late_after_ms:
                b.late.append({"event_ts": eff, "max_seen_ts": max_seen, "entities": entities, "funnel_step": step,
                               "session_id": rec.get("session_id") if step else None})
                self.n[f"{kind}_late"] += 1
            else:
                b.counts.update(entities)
                if step:
                    b.sessions.setdefault(step, set()).add(str(rec["session_id"]))
            if max_seen is None or eff > max_seen:
                self._max_seen[kind] = eff
            self.n[f"{kind}_delivered"] += 1

    def refused(self, topic: str | None, rec: dict[str, Any], answered_ms: int | None = None) -> None:
        """The gateway refused ``rec`` on purpose (future-dated beyond the skew): not delivered, not counted."""
        kind = KINDS.get(topic or "", ("", ()))[0]
        if not kind:
            return
        with self._lock:
            self._bucket(kind, answered_ms or _now()).refused += 1
            self.n[f"{kind}_refused"] += 1

    def _bucket(self, kind: str, eff_ms: int) -> Bucket:
        key = (kind, eff_ms - eff_ms % BUCKET_MS)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = Bucket()
            mine = sorted(k for k in self._buckets if k[0] == kind)
            for old in mine[:max(0, len(mine) - MAX_BUCKETS)]:  # oldest first; their last state is published
                if old != key:
                    self._buckets.pop(old)
                    self.n["evicted_buckets"] += 1
        self._dirty.add(key)
        return b

    def _booking(self, rec: dict[str, Any]) -> None:
        booking_id = rec.get("booking_id") or rec.get("key")
        if not booking_id:
            return
        with self._lock:
            cur = self._bookings.setdefault(booking_id, {"booking_id": booking_id, "user_id": None, "status": "",
                                                         "payment_status": None, "amount": None, "currency": None})
            if rec.get("op") == "create":
                cur.update(status=rec.get("to") or "pending", payment_status="authorized", user_id=rec.get("user_id"),
                           amount=rec.get("amount"), currency=rec.get("currency"))
            else:
                cur["status"] = rec.get("to") or cur["status"]
                if rec.get("payment_to"):
                    cur["payment_status"] = rec["payment_to"]
            cur["changed_ts"] = _now()
            self._dirty_bookings.add(booking_id)
            self.n["bookings_changed"] += 1

    # -- publishing ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sim-truth", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.spec.publish_every_s):
            try:
                self.publish()
            except Exception as exc:  # a broker outage: the next round re-sends (records are full states)
                log.error("publishing the truth failed (retried next round): %s", exc)
                self.n["publish_errors"] += 1

    def publish(self, ended: bool = False) -> int:
        """Send every changed bucket and booking, then the run's record; returns how many records went out."""
        with self._publish_lock:
            with self._lock:
                now = _now()
                dirty, self._dirty = self._dirty, set()
                dirty_bookings, self._dirty_bookings = self._dirty_bookings, set()
                out = [self._bucket_record(kind, start, self._buckets[(kind, start)], now)
                       for kind, start in sorted(dirty) if (kind, start) in self._buckets]
                out += [(f"booking|{bid}", self._record("booking", now, key=f"booking|{bid}",
                                                        booking=dict(self._bookings[bid])))
                        for bid in sorted(dirty_bookings)]
                out.append(self._run_record(now, ended))
            try:
                self.publisher.publish(out)
            except Exception:
                with self._lock:  # records are full states: the next round sends them again
                    self._dirty |= dirty
                    self._dirty_bookings |= dirty_bookings
                raise
            with self._lock:
                for bid in dirty_bookings - self._dirty_bookings:
                    if self._bookings[bid]["status"] in ("completed", "cancelled"):
                        del self._bookings[bid]  # final and published: nothing more will change it
            return len(out)

    def _record(self, kind: str, now: int, **fields: Any) -> dict[str, Any]:
        return {"key": "", "kind": kind, "run_id": self.meta.run_id, "bucket_start": None, "counts": {},
                "sessions": {}, "late": [], "duplicates": 0, "refused": 0, "clamped": 0, "booking": None,
                "run": None, "updated_ts": now, **fields}

    def _bucket_record(self, kind: str, start: int, b: Bucket, now: int) -> tuple[str, dict[str, Any]]:
        key = f"{kind}|{iso_minute(start)}|{self.meta.run_id}"
        return key, self._record(kind, now, key=key, bucket_start=start, counts=dict(b.counts),
                                 sessions={s: sorted(v) for s, v in b.sessions.items()}, late=list(b.late),
                                 duplicates=b.duplicates, refused=b.refused, clamped=b.clamped)

    def _run_record(self, now: int, ended: bool) -> tuple[str, dict[str, Any]]:
        m = self.meta
        covered_to = dict(self._max_seen)
        run = {"scenario": m.scenario, "seed": m.seed, "stream": m.stream, "topic_prefix": m.topic_prefix,
               "started_ts": self.started_wall, "heartbeat_ts": now, "ended": ended,
               "covered_from": {kind: m.start_ms for kind, _ in KINDS.values()}, "covered_to": covered_to,
               "faults": dict(m.faults), "counters": dict(self.n)}
        key = f"run|{m.run_id}"
        return key, self._record("run", now, key=key, run=run)

    def close(self) -> None:
        """Publish everything (``ended``), flush; a truth that cannot be delivered is an error, not a silence."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.publish(ended=True)
        finally:
            self.publisher.close()
        self.ended = True

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.n)


class KafkaPublisher:
    """Truth records to ``<prefix>topic_truth`` through the shared producer and serde."""

    def __init__(self, settings: Any, topic_prefix: str = "") -> None:
        from eventbus.kafka import Producer
        from eventbus.serde import AvroSerde

        self.serde = AvroSerde(settings)
        self.encode = self.serde.encoder(TRUTH_TOPIC)  # registers the schema now: fails fast
        self.producer = Producer(settings, client_id="simulators-truth")
        self.topic = topic_prefix + TRUTH_TOPIC

    def publish(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        for key, rec in records:
            self.producer.produce(self.topic, self.encode(rec), key=key)
        self.producer.flush(30.0)  # raises DeliveryError: the caller logs it and the next round re-sends

    def close(self) -> None:
        self.producer.close()


class JsonLinesPublisher:
    """Truth records as JSON lines (``{"key", "value"}``), for runs without Kafka and for tests."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def publish(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        import json

        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            for key, rec in records:
                fh.write(json.dumps({"key": key, "value": rec}, default=str) + "\n")

    def close(self) -> None:
        pass


def _now() -> int:
    return time.time_ns() // 1_000_000
