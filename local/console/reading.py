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

MAX_FILTER_LEN = 256
#: Records of this schema carry why a record failed (shown as the dead-letter reason).
DEAD_LETTER_SCHEMA = "dead_letter.avsc"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters other than tab/newline


@dataclass(frozen=True)
class Filter:
    """Key filter (exact, or ``/regex/``) and/or a ``field.path=value`` filter on the decoded record."""

    key: str | None = None
    key_regex: re.Pattern[str] | None = None
    path: tuple[str, ...] = ()
    value: str | None = None
    #: The field holds strings (Avro writes them as raw UTF-8, unlike enums and numbers).
    textual: bool = False

    @property
    def empty(self) -> bool:
        return self.key is None and self.key_regex is None and not self.path

    def raw_hint(self) -> bytes | None:
        """Bytes a matching record's value must contain (cheap pre-filter before decoding)."""
        if self.textual and self.value not in (None, "", "null", "true", "false") and not _numeric(self.value):
            return str(self.value).encode()
        return None

    def key_matches(self, key: str | None) -> bool:
        if self.key is not None:
            return key == self.key
        if self.key_regex is not None:
            return key is not None and self.key_regex.search(key) is not None
        return True

    def value_matches(self, record: dict[str, Any] | None) -> bool:
        if not self.path:
            return True
        got: Any = record
        for part in self.path:
            if not isinstance(got, dict) or part not in got:
                return False
            got = got[part]
        return _text(got) == self.value


def _numeric(text: str | None) -> bool:
    try:
        float(text or "")
        return True
    except ValueError:
        return False


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_filter(spec: Any, key: str | None = None, where: str | None = None) -> Filter:
    """Check the filters against the topic's schema; ``BadInputError`` says what is wrong."""
    out: dict[str, Any] = {}
    if key is not None:
        if not key or len(key) > MAX_FILTER_LEN or _CONTROL.search(key):
            raise BadInputError(f"malformed key filter {key[:40]!r}: give 1-{MAX_FILTER_LEN} printable characters "
                                "(an exact key, or /regex/)")
        if len(key) >= 2 and key.startswith("/") and key.endswith("/"):
            try:
                out["key_regex"] = re.compile(key[1:-1])
            except re.error as exc:
                raise BadInputError(f"malformed key filter {key!r}: not a valid regular expression ({exc})") from None
        else:
            out["key"] = key
    if where is not None:
        name, sep, value = where.partition("=")
        path = tuple(p for p in name.strip().split(".") if p)
        if not sep or not path or len(where) > MAX_FILTER_LEN or _CONTROL.search(where):
            raise BadInputError(f"malformed field filter {where[:40]!r}: expected FIELD=VALUE, e.g. event_type=search "
                                "or after.status=confirmed")
        fields = [f["name"] for f in spec.schema["fields"]]
        if path[0] not in fields:
            raise BadInputError(f"unknown field {path[0]!r} in {spec.name} (fields: {', '.join(fields)})")
        field_type = next(f["type"] for f in spec.schema["fields"] if f["name"] == path[0])
        out.update(path=path, value=value.strip(), textual=_holds_strings(field_type, path[1:]))
    return Filter(**out)


def _branches(t: Any) -> list[Any]:
    return [b for b in (t if isinstance(t, list) else [t]) if b != "null"]


def _holds_strings(t: Any, rest: tuple[str, ...]) -> bool:
    """Whether the value at ``rest`` inside Avro type ``t`` can be a string (not an enum/number only)."""
    for part in rest:
        nxt = []
        for b in _branches(t):
            if isinstance(b, dict) and b.get("type") == "map":
                nxt.append(b["values"])
            elif isinstance(b, dict) and b.get("type") == "record":
                nxt += [f["type"] for f in b["fields"] if f["name"] == part]
        if not nxt:
            return False
        t = [x for n in nxt for x in _branches(n)]
    return any(b == "string" or (isinstance(b, dict) and b.get("type") == "string") for b in _branches(t))


def parse_cursor(text: str | None) -> dict[int, int] | None:
    """``"0:120,1:98"`` (partition:offset, exclusive upper bounds) -> {0: 120, 1: 98}."""
    if not text:
        return None
    try:
        pairs = (item.split(":") for item in text.split(","))
        cursor = {int(p): int(o) for p, o in pairs}
    except ValueError:
        raise BadInputError(f"malformed cursor {text[:40]!r}: expected PARTITION:OFFSET[,PARTITION:OFFSET...] "
                            "(take it from the previous page's 'cursor')") from None
    if any(o < 0 or p < 0 for p, o in cursor.items()):
        raise BadInputError(f"malformed cursor {text[:40]!r}: offsets are not negative")
    return cursor


def format_cursor(cursor: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))


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
