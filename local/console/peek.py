"""``peek``: decoded records of a topic as JSON lines, like kcat with the registry.

    python -m local.console peek --topic topic_app_events -n 5
    python -m local.console peek --topic topic_cdc_changes --key 'public.bookings:bk-0123'
    python -m local.console peek --topic topic_cdc_changes --where after.status=confirmed --follow

Each line: {"topic", "partition", "offset", "timestamp", "key", "schema_version", "value", ...}; the
newest ``-n`` matching records, oldest first, then (``--follow``) every new one as it arrives.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from local.console.clients import Clients
from local.console.filters import Filter
from local.console.reading import read_latest, to_row, watermarks


def _line(topic: str, row: dict[str, Any]) -> str:
    return json.dumps({"topic": topic, **row}, ensure_ascii=False, separators=(",", ":"))


def peek(clients: Clients, topic: str, flt: Filter, n: int, follow: bool, out: TextIO = sys.stdout,
         stop_after_s: float | None = None) -> int:
    """Print the newest ``n`` matches (oldest first); with ``follow``, keep printing new ones."""
    consumer = clients.consumer("peek") if follow else None
    try:
        # End offsets before the first page: whatever arrives after them is followed, nothing twice.
        ends = watermarks(clients, consumer, topic, time.monotonic() + clients.console.timeout_s) if consumer else {}
        page = read_latest(clients, topic, limit=n, flt=flt) if n > 0 else None
        start = {p: hi for p, (_lo, hi) in ends.items()}
        for row in reversed(page.records if page else []):
            print(_line(topic, row), file=out, flush=True)
            start[row["partition"]] = max(start.get(row["partition"], 0), row["offset"] + 1)
        printed = len(page.records) if page else 0
        if consumer is None:
            return printed
        consumer.assign([TopicPartition(topic, p, o) for p, o in start.items()])
        stop_at = time.monotonic() + stop_after_s if stop_after_s else None
        hint = flt.raw_hint()
        while stop_at is None or time.monotonic() < stop_at:
            for msg in consumer.consume(500, 0.5):
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(err)
                    continue
                raw_key = msg.key()
                key = raw_key.decode("utf-8", "replace") if raw_key is not None else None
                if not flt.key_matches(key) or (hint is not None and hint not in (msg.value() or b"")):
                    continue
                row = to_row(clients, topic, msg)
                if flt.value_matches(row["value"]):
                    print(_line(topic, row), file=out, flush=True)
                    printed += 1
    except KafkaException as exc:
        raise clients.broker_error(exc) from exc
    finally:
        if consumer is not None:
            consumer.close()
    return printed
