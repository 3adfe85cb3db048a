"""Read back what was written: the high watermarks of a topic, and every record between two such
snapshots. For drills, tests and benchmarks that check "every acknowledged event is in Kafka".

    >>> start = end_offsets(settings, "topic_app_events")
    >>> ...  # produce
    >>> for key, record in read_range(settings, start, end_offsets(settings, "topic_app_events"), "topic_app_events"):
    ...     print(key, record["event_id"])
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import TopicPartition

from eventbus.kafka.consumer import make_consumer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """High watermark of every partition."""
    consumer = make_consumer(settings, group_id="eventbus-reader-offsets")
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def read_range(
    settings: Settings,
    start: dict[int, int],
    end: dict[int, int],
    topic: str,
    timeout: float = 120.0,
    containing: bytes | None = None,
) -> Iterator[tuple[bytes | None, dict[str, Any]]]:
    """Every (key, decoded record) between ``start`` and ``end`` offsets (only those whose raw value
    contains ``containing``, when given: a cheap filter on a topic other writers share)."""
    pending = {p: o for p, o in end.items() if o > start.get(p, 0)}
    if not pending:
        return
    serde = AvroSerde(settings)
    consumer = make_consumer(settings, group_id=f"eventbus-reader-{os.getpid()}", **{"enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in pending])
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} up to {end} within {timeout:.0f}s (still {pending})")
            for msg in consumer.consume(10_000, 1.0):
                if msg.error():
                    continue
                p, offset, value = msg.partition(), msg.offset() or 0, msg.value() or b""
                if p is not None and p in pending and offset < pending[p]:
                    if containing is None or containing in value:
                        yield msg.key(), serde.decode(value)
                    if offset + 1 >= pending[p]:
                        del pending[p]
    finally:
        consumer.close()
