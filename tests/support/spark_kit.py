"""Scratch topics, hand-made records and read-back for the Spark tests (and the Spark benches and drills,
which import it from here: bench/ may use tests/support, never the other way round).

    >>> with ScratchTopics(settings, ["topic_app_events", "topic_processed_events"]) as topics:
    ...     produce(settings, topics, "topic_app_events", records, key="user_id")
    ...     cfg = SparkSettings(topic_overrides=topics.overrides, ...)
    ...     rows = read_topic(settings, topics.actual("topic_processed_events"))
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from confluent_kafka import TopicPartition

from eventbus.catalog import load_catalog
from eventbus.kafka.admin import make_admin
from eventbus.kafka.consumer import make_consumer
from eventbus.kafka.producer import Producer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from local.stack.health import wait_until
from tests.support.harness import create_topics, delete_topics


class ScratchTopics:
    """``t_spark_<run>_<catalog topic>`` for each catalog topic named, deleted on exit."""

    def __init__(self, settings: Settings, logical: Iterable[str], partitions: int | None = None,
                 prefix: str = "t_spark") -> None:
        self.settings = settings
        self.run = uuid.uuid4().hex[:8]
        self.prefix = prefix
        catalog = load_catalog(settings)
        self.names = {t: f"{prefix}_{self.run}_{t.removeprefix('topic_')}" for t in logical}
        self.partitions = {t: partitions or catalog.get(t).partitions for t in logical}
        self.policies = {t: catalog.get(t).cleanup_policy for t in logical}

    @property
    def overrides(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.names.items())

    def actual(self, logical: str) -> str:
        return self.names[logical]

    def __enter__(self) -> ScratchTopics:
        names = list(self.names.values())
        create_topics(self.settings, {n: self.partitions[t] for t, n in self.names.items()},
                      configs={n: {"cleanup.policy": self.policies[t]} for t, n in self.names.items()})
        admin = make_admin(self.settings)
        wait_until(lambda: set(names) <= set(admin.list_topics(timeout=5).topics), 30, "scratch topics")
        return self

    def __exit__(self, *exc: Any) -> None:
        delete_topics(self.settings, list(self.names.values()))


def produce(settings: Settings, topic: str, logical: str, records: Iterable[dict[str, Any]], key: str,
            serde: AvroSerde | None = None) -> int:
    """Encode (shared serde, registry version id) and produce ``records`` to ``topic``; flush raises on loss."""
    serde = serde or AvroSerde(settings)
    enc = serde.encoder(logical)
    producer = Producer(settings, client_id="spark-kit")
    n = 0
    for rec in records:
        producer.produce(topic, enc(rec), key=str(rec[key]) if rec.get(key) is not None else None)
        n += 1
    producer.flush(60)
    return n


def evolved_app_event(field_name: str = "referral_code") -> str:
    """AppEvent plus one optional field (null default): a BACKWARD-compatible v2 of the catalog schema."""
    schema = json.loads(load_catalog().get("topic_app_events").schema_text)
    schema["fields"].append({"name": field_name, "type": ["null", "string"], "default": None,
                             "doc": "drill: a field added while the jobs run"})
    return json.dumps(schema)


def version_encoder(settings: Settings, logical: str, definition: str) -> Any:
    """Register ``definition`` as a version of ``logical``'s schema; an encoder writing Glue-wire records
    with it (what a producer already on the new version sends)."""
    import fastavro

    from eventbus.registry import SchemaRegistry
    from eventbus.serde import COMPRESSION_NONE, HEADER_VERSION

    version = SchemaRegistry(settings).register(load_catalog(settings).get(logical).schema_name, definition)
    header = bytes([HEADER_VERSION, COMPRESSION_NONE]) + version.bytes
    parsed = fastavro.parse_schema(json.loads(definition))

    def encode(record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        buf.write(header)
        fastavro.schemaless_writer(buf, parsed, record)
        return buf.getvalue()

    return encode


def produce_raw(settings: Settings, topic: str, items: Iterable[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer(settings, client_id="spark-kit-raw")
    for k, v in items:
        producer.produce(topic, v, key=k)
    producer.flush(60)


def read_topic(settings: Settings, topic: str, timeout: float = 60.0) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) of ``topic`` from the beginning up to its current end (tombstones: value None)."""
    consumer = make_consumer(settings, group_id=f"spark-kit-{uuid.uuid4().hex[:6]}",
                             **{"enable.partition.eof": False, "isolation.level": "read_uncommitted"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts}
        pending = {p: hi for p, (lo, hi) in ends.items() if hi > lo}
        consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in pending])
        out: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within {timeout:.0f}s")
            for msg in consumer.consume(10_000, 0.5):
                if msg.error():
                    continue
                p, off = msg.partition(), msg.offset() or 0
                if p in pending and off < pending[p]:
                    out.append((msg.key(), msg.value()))
                    if off + 1 >= pending[p]:
                        del pending[p]
        return out
    finally:
        consumer.close()


def latest_by_key(settings: Settings, topic: str, serde: AvroSerde | None = None) -> dict[str, dict[str, Any] | None]:
    """The last value per key (decoded; None for a tombstone) — what compaction keeps."""
    serde = serde or AvroSerde(settings)
    out: dict[str, dict[str, Any] | None] = {}
    for k, v in read_topic(settings, topic):
        out[(k or b"").decode()] = serde.decode(v) if v is not None else None
    return out
