"""The lake against Kafka: per source topic and hour (of the Kafka timestamp, UTC — the lake's own
partitioning, emr_jobs/lake.py), the distinct (partition, offset) pairs in the Parquet files must be the
records Kafka holds in that hour minus those the lake query dead-lettered (``topic_dead_letter``).

Kafka is counted by consuming the hour range raw (no decoding; read_committed, so transaction markers and
aborted records are not counted); the lake is read with pyarrow (a folder locally, ``s3://`` on EMR).
Only closed hours are compared (ended ``grace`` ago), and only hours Kafka still holds from their start.

    >>> row = reconcile_lake(settings, lake_root, topics, since_ms, now_ms)
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TopicPartition

from eventbus.kafka import make_consumer
from eventbus.settings import Settings
from lambdas.verify.reading import Msg
from lambdas.verify.reconcile import Diff, Row

HOUR = 3_600_000


def _hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H")


def kafka_hours(settings: Settings, topic: str, since_ms: int, until_ms: int, skip: set[tuple[int, int]],
                timeout_s: float = 120.0) -> tuple[Counter[str], int]:
    """Records per hour in [since, until) minus ``skip`` (partition, offset); and the earliest record time held."""
    consumer = make_consumer(settings, group_id=f"verify-lake-{os.getpid()}", **{"enable.partition.eof": False})
    counts: Counter[str] = Counter()
    earliest = 0
    try:
        parts = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts}
        starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in parts], timeout=10)
        pending = {tp.partition: ends[tp.partition][1] for tp in starts if 0 <= tp.offset < ends[tp.partition][1]}
        if not pending:
            return counts, earliest
        consumer.assign([tp for tp in starts if tp.partition in pending])
        # the oldest record Kafka still holds when retention has deleted some (log start > 0): hours
        # before it are not compared
        trimmed = {p: lo for p, (lo, _hi) in ends.items() if lo > 0}
        earliest = min(_first_records(settings, topic, trimmed), default=0) if trimmed else 0
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for m in consumer.consume(10_000, 0.1):
                if m.error():
                    continue
                p, off, ts = m.partition() or 0, m.offset() or 0, m.timestamp()[1]
                if p in pending and off < pending[p]:
                    if ts < until_ms and (p, off) not in skip:
                        counts[_hour(ts)] += 1
                    if off + 1 >= pending[p] or ts >= until_ms + 600_000:
                        del pending[p]
        return counts, earliest
    finally:
        consumer.close()


def _first_records(settings: Settings, topic: str, offsets: dict[int, int]) -> list[int]:
    """Timestamps of the records at ``offsets`` (the first one held per partition)."""
    if not offsets:
        return []
    consumer = make_consumer(settings, group_id=f"verify-lake-{os.getpid()}", **{"enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in offsets.items()])
        out: dict[int, int] = {}
        deadline = time.monotonic() + 10
        while len(out) < len(offsets) and time.monotonic() < deadline:
            for m in consumer.consume(len(offsets), 0.1):
                if not m.error() and m.partition() not in out:
                    out[m.partition() or 0] = m.timestamp()[1]
        return list(out.values())
    finally:
        consumer.close()


def lake_hours(root: str, topic: str, settings: Settings) -> Counter[str]:
    """Distinct (kafka_partition, kafka_offset) per ``date``/``hour`` partition of the topic's Parquet."""
    import pyarrow.dataset as ds

    path = f"{root.rstrip('/')}/topic={topic}"
    fs: Any = None
    if path.startswith(("s3://", "s3a://")):
        from pyarrow import fs as pafs

        path = path.split("://", 1)[1]
        fs = pafs.S3FileSystem(region=settings.aws_region, endpoint_override=settings.aws_endpoint_url)
    elif not os.path.isdir(path):
        return Counter()
    table = ds.dataset(path, format="parquet", partitioning="hive", filesystem=fs).to_table(
        columns=["kafka_partition", "kafka_offset", "date", "hour"])
    seen: set[tuple[Any, ...]] = set(zip(*(table.column(c).to_pylist() for c in
                                           ("kafka_partition", "kafka_offset", "date", "hour")), strict=True))
    out: Counter[str] = Counter()
    for _p, _o, date, hour in seen:
        out[f"{date}T{int(hour):02d}"] += 1
    return out


def reconcile_lake(settings: Settings, root: str, topics: list[str], dead_letters: list[Msg], since_ms: int,
                   now_ms: int, grace_ms: int = 300_000) -> Row:
    row = Row("lake records per topic/hour", "lake (Parquet)", note=root)
    until = (now_ms - grace_ms) // HOUR * HOUR  # closed hours only
    since = (since_ms // HOUR + 1) * HOUR  # whole hours only
    if since >= until:
        row.note = "no closed hour in the range yet"
        return row
    for topic in topics:
        skip = {(int(m.value["original_partition"]), int(m.value["original_offset"])) for m in dead_letters
                if m.value is not None and m.value.get("original_topic") == topic}
        kafka, earliest = kafka_hours(settings, topic, since, until, skip)
        lake = lake_hours(root, topic, settings)
        for hour in sorted(set(kafka) | {h for h in lake if since <= _ms(h) < until}):
            if _ms(hour) < earliest:
                continue  # Kafka no longer holds the start of this hour
            row.compared += 1
            want, got = kafka.get(hour, 0), lake.get(hour, 0)
            key = f"{topic}|{hour}"
            if want == got:
                row.matched += 1
            elif got < want:
                row.add(Diff(key, "missing", f"{want} records", f"{got} in the lake"))
            else:
                row.add(Diff(key, "extra", f"{want} records", f"{got} in the lake"))
    return row


def _ms(hour: str) -> int:
    return int(datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC).timestamp() * 1000)
