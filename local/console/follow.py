"""Follow an entity: one ``user_id``, ``session_id`` or ``booking_id`` across every source, newest first.

    >>> timeline = follow(clients, "booking_id", "bk-0123")
    >>> [(e["source"], e["summary"]) for e in timeline["entries"]]

Kafka topics are scanned backwards from their ends in parallel (one consumer each), bounded by the
console's deadline and record budget; a record belongs to the entity when its key is the id (or
``<schema>.<table>:<id>`` for CDC) or when the id is the value of the field ``kind`` in the record, in
a CDC change's ``after`` or ``before`` image. The id's bytes must occur in the raw key or value first,
so non-matching records are never decoded. The OLTP rows are read from PostgreSQL at the same time and
stand at the time they were read ("row now"): they are the entity's current state.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventbus.catalog import Catalog, TopicSpec
from local.console import pg
from local.console.clients import Clients
from local.console.exceptions import BadInputError, ConsoleError
from local.console.reading import scan
from local.console.topics import catalog_topics

KINDS = ("user_id", "session_id", "booking_id")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
PER_TOPIC_LIMIT = 200
#: Fields that say what a record is (besides Avro enums): shown in its timeline summary, at most four.
SUMMARY_FIELD = re.compile(r"(^|_)(type|status|count|level)$")


def _fields(spec: TopicSpec) -> list[tuple[str, Any]]:
    """(name, type) of the schema's top-level fields, nullable unions unwrapped."""
    out = []
    for f in json.loads(spec.schema_text)["fields"]:
        kind = f["type"]
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        out.append((f["name"], kind))
    return out


def timeline_topics(catalog: Catalog) -> list[str]:
    """The console's topics (``catalog_topics``) a timeline reads: those whose schema has an entity id
    (``KINDS``) as a top-level field, and the CDC topics (a ``publication``: the ids are in the row images)."""
    return [t for t in catalog_topics(catalog)
            if catalog.get(t).publication or any(name in KINDS for name, _ in _fields(catalog.get(t)))]


def summary_fields(spec: TopicSpec) -> list[str]:
    """The fields a record of ``spec`` is summarised by: its enums and ``*type``/``*status``/``*count``/``level``."""
    return [name for name, kind in _fields(spec)
            if (isinstance(kind, dict) and kind.get("type") == "enum") or SUMMARY_FIELD.search(name)][:4]


def _summary(spec: TopicSpec, value: dict[str, Any] | None) -> str:
    if value is None:
        return "tombstone (state deleted)"
    if spec.publication is not None:  # a Debezium envelope (cdc_change.avsc)
        src = value.get("source") or {}
        after = value.get("after") or value.get("before") or {}
        status = after.get("status", "")
        return f"CDC {value.get('op')} {src.get('table')} {status}".strip()
    label = spec.name.removeprefix("topic_").replace("_", " ")
    return " ".join([label, *(f"{f}={value.get(f)}" for f in summary_fields(spec) if value.get(f) is not None)])


def _belongs(kind: str, entity: str, key: str | None, value: dict[str, Any] | None) -> bool:
    if key == entity or (key is not None and key.endswith(":" + entity)):
        return True
    if not isinstance(value, dict):
        return False
    return any(isinstance(img, dict) and img.get(kind) == entity
               for img in (value, value.get("after"), value.get("before")))


def _scan_topic(clients: Clients, topic: str, kind: str, entity: str, deadline: float) -> dict[str, Any]:
    needle = entity.encode()

    def keep(key: str | None, raw: bytes | None) -> bool:
        return (key is not None and entity in key) or (raw is not None and needle in raw)

    def match(row: dict[str, Any]) -> bool:
        return _belongs(kind, entity, row["key"], row["value"])

    page = scan(clients, topic, keep, match, PER_TOPIC_LIMIT, deadline=deadline)
    spec = clients.catalog.get(topic)
    entries = [{"time": r["timestamp"], "source": topic, "kind": "kafka", "summary": _summary(spec, r["value"]),
                **{k: r[k] for k in ("partition", "offset", "key", "schema_version", "value", "tombstone")}}
               for r in page.records]
    return {"topic": topic, "scanned": page.scanned, "stopped": page.stopped, "matches": len(entries),
            "elapsed_ms": page.elapsed_ms, "entries": entries}


def check(kind: str, entity: str) -> None:
    if kind not in KINDS:
        raise BadInputError(f"cannot follow {kind!r}: choose one of {', '.join(KINDS)}")
    if not ID_PATTERN.match(entity):
        raise BadInputError(f"malformed {kind} {entity[:40]!r}: 1-128 letters, digits and . _ : @ - "
                            "(e.g. u-a4a257-000461, s-58163cdba07531c7, bk-05426add4c9e5a3a)")


def follow(clients: Clients, kind: str, entity: str) -> dict[str, Any]:
    """The entity's timeline (newest first) and, per source, how much was scanned and why it stopped."""
    check(kind, entity)
    started = time.monotonic()
    deadline = started + clients.console.timeout_s
    topics = timeline_topics(clients.catalog)
    with ThreadPoolExecutor(max_workers=len(topics) + 1, thread_name_prefix="follow") as pool:
        futures = {t: pool.submit(_scan_topic, clients, t, kind, entity, deadline) for t in topics}
        rows = pool.submit(pg.entity_rows, clients.settings, kind, entity, clients.console.timeout_s)
        sources: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        for fut in futures.values():
            result = fut.result()  # a broker error ends the request: every topic needs the broker
            entries.extend(result.pop("entries"))
            sources.append(result)
        try:
            row_entries = rows.result()
            sources.append({"topic": "postgres", "matches": len(row_entries), "stopped": "exhausted"})
        except ConsoleError as exc:
            row_entries = []
            sources.append({"topic": "postgres", "matches": 0, "stopped": "error", "error": str(exc)})
    entries.extend(row_entries)
    entries.sort(key=lambda e: (e["time"] or 0, e.get("offset") or 0), reverse=True)
    return {"kind": kind, "id": entity, "entries": entries, "sources": sources,
            "elapsed_ms": round((time.monotonic() - started) * 1000, 1)}
