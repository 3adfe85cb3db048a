"""Read a topic from a point in time to the end offsets it had when the read began (the one consumer
factory and the one serde), or the truth from a JSON-lines file (``truth.jsonl`` of a run without Kafka).

    >>> msgs = read_topic(settings, "topic_processed_events", since_ms=ts)   # [Msg(key, value, ts, ...)]
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from eventbus.catalog import load_catalog
from eventbus.exceptions import SchemaValidationError, local_hint
from eventbus.kafka import make_consumer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.verify.exceptions import VerifyError

TRUTH = "topic_truth"  # read (verify is a reader of the truth; the simulators write it)


@dataclass(slots=True)
class Msg:
    key: str | None
    value: dict[str, Any] | None  # None: a tombstone (or a record that does not decode: counted in `undecodable`)
    ts: int  # Kafka timestamp, ms
    partition: int
    offset: int


@dataclass
class Read:
    topic: str
    msgs: list[Msg]
    undecodable: int = 0
    seconds: float = 0.0


def read_timeout(topic: str, timeout_s: float, left: dict[int, int]) -> VerifyError:
    """Records still unread at the deadline: verify cannot say what the topic holds (never a partial count)."""
    return VerifyError(f"could not read {topic} to its end within {timeout_s:g} s (partition: end offset left: "
                       f"{left}) — raise EB_VERIFY_READ_TIMEOUT_S")


def read_topic(settings: Settings, topic: str, since_ms: int | None = None, timeout_s: float = 120.0,
               serde: AvroSerde | None = None) -> Read:
    """Every record of ``topic`` with a timestamp >= ``since_ms`` (all when None), up to the end offsets now."""
    t0 = time.monotonic()
    serde = serde or AvroSerde(settings)
    consumer = make_consumer(settings, group_id=f"verify-{os.getpid()}", **{"enable.partition.eof": False})
    try:
        try:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            raise VerifyError(f"Kafka broker at {settings.kafka_bootstrap} unreachable"
                              f"{local_hint(settings.kafka_bootstrap)}: {exc}") from None
        if meta is None or meta.error is not None or not meta.partitions:
            raise VerifyError(f"topic {topic} does not exist on {settings.kafka_bootstrap} — "
                              "run `make local-up` (applies schemas/topics.yaml) or check EB_VERIFY_TOPIC_PREFIX")
        parts = sorted(meta.partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts}
        starts = {p: lo for p, (lo, _hi) in ends.items()}
        if since_ms is not None:
            found = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in parts], timeout=10)
            for tp in found:
                hi = ends[tp.partition][1]
                starts[tp.partition] = hi if tp.offset < 0 else max(tp.offset, starts[tp.partition])
        pending = {p: hi for p, (_lo, hi) in ends.items() if hi > starts[p]}
        out = Read(topic, [])
        if not pending:
            return out
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in pending])
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise read_timeout(topic, timeout_s, pending)
            # consume() waits its whole timeout when fewer records than asked are there: keep it short
            for m in consumer.consume(5000, 0.1):
                if m.error():
                    continue
                p, off = m.partition() or 0, m.offset() or 0
                if p not in pending or off >= pending[p]:
                    continue
                raw = m.value()
                value = None
                if raw is not None:
                    try:
                        value = serde.decode(raw)
                    except Exception:
                        out.undecodable += 1
                key = m.key()
                out.msgs.append(Msg(key.decode("utf-8", "replace") if key is not None else None, value,
                                    m.timestamp()[1], p, off))
                if off + 1 >= pending[p]:
                    del pending[p]
        out.seconds = time.monotonic() - t0
        return out
    finally:
        consumer.close()


def read_truth_file(path: Path, serde: AvroSerde | None = None) -> list[Msg]:
    """Truth records from a JSON-lines file (``truth.sink: jsonl``): one ``{"key", "value"}`` per line, each
    value checked against the truth schema (a topic's records are by their encoding)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise VerifyError(f"cannot read the truth file {path}: {exc.strerror}") from None
    serde = serde or AvroSerde(catalog=load_catalog())
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"truth file {path} line {i + 1}"
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise VerifyError(f"{where} is not JSON ({exc}) — expected one {{\"key\", \"value\"}} object per line, "
                              "as `truth.sink: jsonl` writes") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or "value" not in doc:
            raise VerifyError(f"{where}: expected an object with a string \"key\" and a \"value\" "
                              "(a truth record or null), as `truth.sink: jsonl` writes")
        if doc["value"] is not None:
            if not isinstance(doc["value"], dict):
                raise VerifyError(f"{where}: \"value\" is {type(doc['value']).__name__}, not a truth record")
            try:
                serde.validate(TRUTH, doc["value"])
            except SchemaValidationError as exc:
                raise VerifyError(f"{where}: {exc}") from None
        out.append(Msg(doc["key"], doc["value"], 0, 0, i))
    return out
