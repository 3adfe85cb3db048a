"""Bounded reads of one topic, newest first: the messages page, ``peek`` and the entity timeline.

Every read is bounded by a deadline and a record budget, so a large topic never stalls a page:

    >>> page = read_latest(clients, "topic_app_events", limit=20, flt=parse_filter(spec, key="u-1"))
    >>> page.records[0]["schema_version"], page.cursor      # cursor: where the next (older) page starts

The scan walks each partition backwards in growing chunks from its end (or from a cursor), decodes
what it reads, keeps what matches the filter and stops when enough matched, the budget is spent, the
deadline passed or every partition is exhausted. The answer says which of these ended it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from eventbus.exceptions import SerdeError
from local.console.clients import Clients
from local.console.exceptions import BadInputError, ConsoleError
from local.console.filters import Filter, format_cursor

#: Records of this schema carry why a record failed (shown as the dead-letter reason).
DEAD_LETTER_SCHEMA = "dead_letter.avsc"
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters other than tab/newline


@dataclass
class Page:
    topic: str
    records: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None  # next (older) page; None when nothing older is left
    scanned: int = 0
    stopped: str = "exhausted"  # "limit" | "budget" | "deadline" | "exhausted"
    elapsed_ms: float = 0.0


def json_safe(value: Any) -> Any:
    """Decoded Avro -> JSON: bytes as text when they are printable UTF-8, else base64 (marked)."""
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
            if not _BINARY.search(text):
                return text
        except UnicodeDecodeError:
            pass
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime.datetime):  # timestamp-millis logical types
        return value.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # date, Decimal, UUID logical types


def watermarks(clients: Clients, consumer: Any, topic: str, deadline: float) -> dict[int, tuple[int, int]]:
    """(low, high) of every partition; a broker that does not answer -> ``DependencyError``."""
    try:
        meta = consumer.list_topics(topic, timeout=max(0.5, deadline - time.monotonic()))
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None:
            raise ConsoleError(f"topic {topic} is in the catalog but not on the broker — run `make local-up` "
                               "(it applies the catalog)")
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=max(0.5, deadline - time.monotonic()))
            for p in sorted(tmeta.partitions)
        }
    except KafkaException as exc:
        raise clients.broker_error(exc) from exc


def to_row(clients: Clients, topic: str, msg: Any) -> dict[str, Any]:
    """One Kafka message as the API shows it: coordinates, key, schema version, decoded value."""
    raw_key, value = msg.key(), msg.value()
    ts_type, ts = msg.timestamp()
    row: dict[str, Any] = {
        "partition": msg.partition(),
        "offset": msg.offset(),
        "timestamp": ts if ts_type else None,
        "key": raw_key.decode("utf-8", "replace") if raw_key is not None else None,
        "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in (msg.headers() or [])},
        "tombstone": value is None,
        "schema_version": None,
        "schema_version_id": None,
        "value": None,
    }
    if value is not None:
        try:
            record, version_id = clients.decode(value, topic)
            row.update(value=json_safe(record), schema_version_id=str(version_id),
                       schema_version=clients.version_number(version_id))
        except SerdeError as exc:
            row["error"] = str(exc)
    if clients.topic(topic).schema_file.name == DEAD_LETTER_SCHEMA and isinstance(row["value"], dict):
        v = row["value"]
        row["dead_letter"] = {"reason": f"{v.get('error_type')}: {v.get('error_message')}",
                              "original_topic": v.get("original_topic"), "component": v.get("component")}
    return row


def scan(
    clients: Clients,
    topic: str,
    keep: Callable[[str | None, bytes | None], bool],
    match: Callable[[dict[str, Any]], bool],
    limit: int,
    *,
    before: dict[int, int] | None = None,
    max_scan: int | None = None,
    deadline: float | None = None,
    unfiltered: bool = False,
) -> Page:
    """Newest-first scan: ``keep(key, raw)`` is a cheap pre-filter, ``match(row)`` the real one."""
    started = time.monotonic()
    console = clients.console
    deadline = deadline or started + console.timeout_s
    budget = max_scan or console.max_scan
    page = Page(topic)
    consumer = clients.consumer("read")
    try:
        marks = watermarks(clients, consumer, topic, deadline)
        upper = {p: min(hi, before.get(p, hi)) if before else hi for p, (_lo, hi) in marks.items()}
        low = {p: lo for p, (lo, _hi) in marks.items()}
        chunk = max(20, limit) if unfiltered else max(200, limit)
        found: list[dict[str, Any]] = []
        scanned_to = dict(upper)
        while True:
            live = {p: u for p, u in scanned_to.items() if u > low[p]}
            if not live:
                page.stopped = "exhausted"
                break
            if len(found) >= limit:
                page.stopped = "limit"
                break
            if page.scanned >= budget:
                page.stopped = "budget"
                break
            if time.monotonic() >= deadline:
                page.stopped = "deadline"
                break
            per = max(1, min(chunk, (budget - page.scanned) // len(live) or 1))
            ranges = {p: (max(low[p], u - per), u) for p, u in live.items()}
            got, reached = _read_ranges(clients, consumer, topic, ranges, deadline, keep, match)
            page.scanned += sum(reached.get(p, ranges[p][1]) - ranges[p][0] for p in ranges)
            found.extend(got)
            for p, (start, stop) in ranges.items():
                if reached.get(p, start) >= stop:  # whole range read: continue below it
                    scanned_to[p] = start
            if any(reached.get(p, ranges[p][0]) < ranges[p][1] for p in ranges):
                page.stopped = "deadline"
                break
            chunk *= 2
        found.sort(key=lambda r: (r["timestamp"] or 0, r["offset"]), reverse=True)
        page.records = found[:limit]
        # Next page, per partition: below its oldest returned record; from the top again when it had
        # matches that did not make this page; else below everything scanned.
        nxt: dict[int, int] = {}
        for p in upper:
            returned = [r["offset"] for r in page.records if r["partition"] == p]
            unreturned = any(r["partition"] == p for r in found[limit:])
            nxt[p] = min(returned) if returned else upper[p] if unreturned else scanned_to[p]
        page.cursor = format_cursor(nxt) if any(o > low[p] for p, o in nxt.items()) else None
    finally:
        consumer.close()
    page.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    return page


def _read_ranges(
    clients: Clients,
    consumer: Any,
    topic: str,
    ranges: dict[int, tuple[int, int]],
    deadline: float,
    keep: Callable[[str | None, bytes | None], bool],
    match: Callable[[dict[str, Any]], bool],
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """Read [start, stop) of each partition; returns matches and how far each partition got."""
    pending = {p: stop for p, (start, stop) in ranges.items() if stop > start}
    reached = {p: start for p, (start, _stop) in ranges.items()}
    for p, (_start, stop) in ranges.items():
        if p not in pending:
            reached[p] = stop
    out: list[dict[str, Any]] = []
    if not pending:
        return out, reached
    try:
        consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in pending])
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(500, min(0.05, max(0.01, deadline - time.monotonic()))):
                p = msg.partition()
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF and p in pending:
                        reached[p] = pending.pop(p)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(err)
                    continue
                if p not in pending:
                    continue
                offset = msg.offset()
                if offset >= pending[p]:
                    reached[p] = pending.pop(p)
                    continue
                reached[p] = offset + 1
                if offset + 1 >= pending[p]:
                    pending.pop(p)
                raw_key = msg.key()
                key = raw_key.decode("utf-8", "replace") if raw_key is not None else None
                if keep(key, msg.value()):
                    row = to_row(clients, topic, msg)
                    if match(row):
                        out.append(row)
    except KafkaException as exc:
        raise clients.broker_error(exc) from exc
    finally:
        with contextlib.suppress(KafkaException):
            consumer.unassign()
    return out, reached


def read_latest(
    clients: Clients, topic: str, limit: int = 50, flt: Filter | None = None, before: dict[int, int] | None = None
) -> Page:
    """The newest ``limit`` records of ``topic`` (older than ``before``) that match ``flt``."""
    clients.topic(topic)
    if not 1 <= limit <= clients.console.max_limit:
        raise BadInputError(f"limit {limit}: give 1-{clients.console.max_limit}")
    flt = flt or Filter()
    hint = flt.raw_hint()

    def keep(key: str | None, raw: bytes | None) -> bool:
        return flt.key_matches(key) and (hint is None or (raw is not None and hint in raw))

    def match(row: dict[str, Any]) -> bool:
        return flt.value_matches(row["value"])

    return scan(clients, topic, keep, match, limit, before=before, unfiltered=flt.empty)
