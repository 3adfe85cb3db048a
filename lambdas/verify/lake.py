"""The lake against Kafka: per source topic and hour (of the Kafka timestamp, UTC — the lake's own
partitioning, emr_jobs/lake.py), the distinct (partition, offset) pairs in the Parquet files must be the
records Kafka holds in that hour minus those the lake query dead-lettered (``topic_dead_letter``) and,
for a topic with a catalog ``dedup_key``, minus the repeats the lake de-duplicated (emr_jobs/lake.py
``first_copies``): a Kafka record absent from the lake whose key value the lake holds from another
record is a dropped repeat, not a missing record.

Kafka is counted by consuming the hour range raw (no decoding; read_committed, so transaction markers and
aborted records are not counted); the lake is read with pyarrow (a folder locally, ``s3://`` on EMR).
Only closed hours are compared (ended ``grace`` ago), and only hours Kafka still holds from their start.

    >>> row = reconcile_lake(settings, lake_root, topics, since_ms, now_ms)
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from eventbus.kafka import make_consumer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.verify.exceptions import VerifyError
from lambdas.verify.reading import Msg, read_timeout
from lambdas.verify.reconcile import Diff, Row

HOUR = 3_600_000


def _hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H")


def kafka_hours(settings: Settings, topic: str, since_ms: int, until_ms: int, skip: set[tuple[int, int]],
                timeout_s: float = 120.0, key_of: Callable[[bytes | None], Any] | None = None
                ) -> tuple[dict[tuple[int, int], tuple[str, Any]], int]:
    """Records in [since, until) minus ``skip``: (partition, offset) -> (hour, ``key_of(value)`` or None);
    and the earliest record time held."""
    consumer = make_consumer(settings, group_id=f"verify-lake-{os.getpid()}", **{"enable.partition.eof": True})
    counts: dict[tuple[int, int], tuple[str, Any]] = {}
    earliest = 0
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise VerifyError(f"topic {topic} does not exist on {settings.kafka_bootstrap} — run `make local-up` "
                              "(applies schemas/topics.yaml), or skip the lake with --no-lake")
        parts = sorted(meta.partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts}
        starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in parts], timeout=10)
        pending = {tp.partition: ends[tp.partition][1] for tp in starts if 0 <= tp.offset < ends[tp.partition][1]}
        if not pending:
            return counts, earliest
        consumer.assign([tp for tp in starts if tp.partition in pending])
        # the oldest record Kafka still holds when retention has deleted some (log start > 0): hours
        # before it are not compared
        trimmed = {p: lo for p, (lo, _hi) in ends.items() if lo > 0}
        earliest = min(_first_records(settings, topic, trimmed, timeout_s), default=0) if trimmed else 0
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise read_timeout(topic, timeout_s, pending)
            for m in consumer.consume(10_000, 0.1):
                if m.error():
                    if _at_end(m):  # the end (past any transaction marker the consumer never hands over)
                        pending.pop(m.partition() or 0, None)
                    continue
                p, off, ts = m.partition() or 0, m.offset() or 0, m.timestamp()[1]
                if p in pending and off < pending[p]:
                    if ts < until_ms and (p, off) not in skip:
                        counts[(p, off)] = (_hour(ts), key_of(m.value()) if key_of else None)
                    if off + 1 >= pending[p] or ts >= until_ms + 600_000:
                        del pending[p]
        return counts, earliest
    finally:
        consumer.close()


def _first_records(settings: Settings, topic: str, offsets: dict[int, int], timeout_s: float = 120.0) -> list[int]:
    """Timestamps of the records at ``offsets`` (the first one held per partition; none for an empty one)."""
    if not offsets:
        return []
    consumer = make_consumer(settings, group_id=f"verify-lake-{os.getpid()}", **{"enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in offsets.items()])
        out: dict[int, int | None] = {}
        deadline = time.monotonic() + timeout_s
        while len(out) < len(offsets):
            if time.monotonic() > deadline:
                raise read_timeout(topic, timeout_s, {p: o for p, o in offsets.items() if p not in out})
            for m in consumer.consume(len(offsets), 0.1):
                p = m.partition() or 0
                if p in out:
                    continue
                if not m.error():
                    out[p] = m.timestamp()[1]
                elif _at_end(m):
                    out[p] = None
        return [ts for ts in out.values() if ts is not None]
    finally:
        consumer.close()


def _at_end(m: Any) -> bool:
    err = m.error()
    return err is not None and err.code() == KafkaError._PARTITION_EOF


def lake_rows(root: str, topic: str, settings: Settings, key: str | None = None
              ) -> dict[tuple[int, int], tuple[str, Any]]:
    """The topic's Parquet rows: (kafka_partition, kafka_offset) -> (``date``T``hour``, the ``key`` column)."""
    import pyarrow.dataset as ds

    path = f"{root.rstrip('/')}/topic={topic}"
    fs: Any = None
    if path.startswith(("s3://", "s3a://")):
        from pyarrow import fs as pafs

        path = path.split("://", 1)[1]
        fs = pafs.S3FileSystem(region=settings.aws_region, endpoint_override=settings.aws_endpoint_url)
    elif not os.path.isdir(path):
        return {}
    dataset = ds.dataset(path, format="parquet", partitioning="hive", filesystem=fs)
    cols = ["kafka_partition", "kafka_offset", "date", "hour"]
    has_key = key is not None and key in dataset.schema.names
    table = dataset.to_table(columns=cols + ([key] if has_key else []))
    values = [table.column(c).to_pylist() for c in cols]
    keys = table.column(key).to_pylist() if has_key else [None] * table.num_rows
    return {(int(p), int(o)): (f"{d}T{int(h):02d}", k) for p, o, d, h, k in zip(*values, keys, strict=True)}


def expected_hours(kafka: dict[tuple[int, int], tuple[str, Any]], lake: dict[tuple[int, int], tuple[str, Any]],
                   dedup: bool) -> tuple[Counter[str], int]:
    """Records per hour the lake must hold, and how many Kafka records were dropped repeats: with ``dedup``,
    a record the lake lacks whose key value the lake holds (from another record) was de-duplicated."""
    held = {k for _h, k in lake.values() if k is not None} if dedup else set()
    want: Counter[str] = Counter()
    repeats = 0
    for pos, (hour, key) in kafka.items():
        if dedup and pos not in lake and key is not None and key in held:
            repeats += 1
        else:
            want[hour] += 1
    return want, repeats


def reconcile_lake(settings: Settings, root: str, topics: list[str], dead_letters: list[Msg], since_ms: int,
                   now_ms: int, grace_ms: int = 300_000, dedup_keys: dict[str, str] | None = None,
                   timeout_s: float = 120.0) -> Row:
    """``dedup_keys``: topic -> the catalog's ``dedup_key`` of the topics the lake de-duplicates; ``timeout_s``:
    per read of a topic (``EB_VERIFY_READ_TIMEOUT_S``), then VerifyError, never a partial count."""
    row = Row("lake records per topic/hour", "lake (Parquet)", note=root)
    dedup_keys = dedup_keys or {}
    serde = AvroSerde(settings) if dedup_keys else None
    repeats = 0
    until = (now_ms - grace_ms) // HOUR * HOUR  # closed hours only
    since = (since_ms // HOUR + 1) * HOUR  # whole hours only
    if since >= until:
        row.note = "no closed hour in the range yet"
        return row
    for topic in topics:
        skip = {(int(m.value["original_partition"]), int(m.value["original_offset"])) for m in dead_letters
                if m.value is not None and m.value.get("original_topic") == topic}
        key = dedup_keys.get(topic)
        key_of = _key_reader(serde, topic, key) if serde and key else None
        records, earliest = kafka_hours(settings, topic, since, until, skip, timeout_s, key_of=key_of)
        rows = lake_rows(root, topic, settings, key)
        kafka, dropped = expected_hours(records, rows, key is not None)
        repeats += dropped
        lake = Counter(hour for hour, _k in rows.values())
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
    if repeats:
        row.note = f"{root}; {repeats} repeated records de-duplicated by the lake (dedup_key)"
    return row


def _key_reader(serde: AvroSerde, topic: str, field: str) -> Callable[[bytes | None], Any]:
    """The ``field`` of a record's value; None for a record that does not decode (the lake dead-letters it)."""
    def key_of(value: bytes | None) -> Any:
        try:
            return serde.decode(value, topic).get(field) if value else None
        except Exception:  # undecodable: compared by position (the lake dead-letters it)
            return None
    return key_of


def _ms(hour: str) -> int:
    return int(datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC).timestamp() * 1000)
