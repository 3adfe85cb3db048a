"""CDC → ``topic_booking_state`` (query ``cdc_booking_state``): the latest state of every booking with
its payment status, keyed by ``booking_id`` on a compacted topic.

Changes of ``bookings`` and ``payments`` (Debezium envelopes from ``topic_cdc_changes``) are grouped by
booking and folded in commit order (``source.lsn``, then the change's order in its transaction) by
``applyInPandasWithState``. A change at or before the position already folded is skipped, so a replay
after a restart changes nothing. A deleted booking emits a tombstone (null value) and keeps a tombstone
state with its position, so a re-delivered older change cannot bring it back. State (tombstones too) is
dropped without output once the watermark (commit time - ``EB_SPARK_WATERMARK``) passes its latest
commit + ``EB_SPARK_STATE_TIMEOUT`` — the timeout counted once. An event-time timeout (not a
processing-time one) lets ``availableNow`` runs end: processing-time timeouts keep a query running batches.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark.sql import functions as F

from emr_jobs.jobs import job
from emr_jobs.streams import JobContext
from emr_jobs.transforms import cell, fold_input, fold_states, row_value
from eventbus.durations import duration_ms

JOB = "booking_state"
SOURCE = "topic_cdc_changes"
SINK = "topic_booking_state"
QUERY = "cdc_booking_state"
#: The CDC tables folded (checked against the catalog's publication as the query is built).
BOOKINGS, PAYMENTS = "bookings", "payments"

BOOKING_FIELDS = ("user_id", "status", "amount", "currency", "destination", "hotel_id", "check_in", "check_out",
                  "created_at", "updated_at")
#: The fields of a change, packed in one JSON column (``change``): each column of the fold's input costs the
#: Python worker an Arrow-to-pandas conversion per booking and micro-batch, and a booking has a few changes a
#: batch, so that per-booking cost, not the per-change one, is most of the fold's time (as in user_state).
CHANGE_FIELDS = ("tbl", "op", "lsn", "ord", *BOOKING_FIELDS, "payment_status")
STATE_SCHEMA = ("booking_lsn long, booking_ord long, payment_lsn long, payment_ord long, has_booking boolean, "
                + ", ".join(f"{f} string" for f in BOOKING_FIELDS) + ", payment_status string, last_op string")
#: The fold's output record (``transforms.FOLD_OUTPUT``, parsed in Spark); the two times stay the change's
#: ISO strings and become timestamps in Spark.
RECORD_SCHEMA = ("booking_id string, deleted boolean, user_id string, status string, payment_status string, "
                 "amount double, currency string, destination string, hotel_id string, check_in string, "
                 "check_out string, created_at string, updated_at string, last_op string")


def changes(ctx: JobContext) -> Any:
    """Booking and payment changes keyed by booking_id: the commit time (the watermark's column) and the
    change's fields with its commit position as one JSON column."""
    cdc = ctx.decoded({SOURCE: ("before", "after", "source", "op", "transaction")}).select(f"{SOURCE}.*")
    tables = ctx.tables(SOURCE, BOOKINGS, PAYMENTS)
    cdc = cdc.where(F.col("source.table").isin(*tables) & (F.col("op") != "t"))
    is_booking = F.col("source.table") == BOOKINGS
    fields = [
        F.col("source.table").alias("tbl"),
        F.col("op"),
        F.coalesce(F.col("source.lsn"), F.lit(0)).cast("long").alias("lsn"),
        F.coalesce(F.col("transaction.total_order"), F.lit(0)).cast("long").alias("ord"),
        *[F.when(is_booking, row_value(f)).alias(f) for f in BOOKING_FIELDS],
        F.when(~is_booking & (F.col("op") != "d"), cell("after", "status")).alias("payment_status"),
    ]
    return cdc.select(
        row_value("booking_id").alias("booking_id"),
        F.timestamp_millis(F.col("source.ts_ms")).alias("commit_ts"),
        F.to_json(F.struct(*fields)).alias("change"),
    ).where(F.col("booking_id").isNotNull()).withWatermark("commit_ts", ctx.cfg.watermark)


def fold(key: tuple[str], batches: Iterator[pd.DataFrame], state: Any, timeout_ms: int = 30 * 86_400_000,
         ) -> Iterator[pd.DataFrame]:
    """applyInPandasWithState function: fold a booking's changes onto its state, emit the new state."""
    (booking_id,) = key
    if state.hasTimedOut:
        state.remove()
        return
    names = STATE_SCHEMA_NAMES
    s: dict[str, Any] = dict(zip(names, state.get, strict=True)) if state.exists else {
        "booking_lsn": -1, "booking_ord": -1, "payment_lsn": -1, "payment_ord": -1, "has_booking": False,
        **dict.fromkeys(BOOKING_FIELDS), "payment_status": None, "last_op": None}
    rows = fold_input(batches)
    # commit order: (lsn, order in the transaction); stable for equal positions
    changes = sorted((json.loads(c) for c in rows["change"].to_numpy()), key=lambda c: (c["lsn"], c["ord"]))
    changed = deleted = False
    for c in changes:
        pos = (int(c["lsn"]), int(c["ord"]))
        if c["tbl"] == BOOKINGS:
            if pos <= (s["booking_lsn"], s["booking_ord"]):
                continue  # already folded (replay)
            s["booking_lsn"], s["booking_ord"] = pos
            s["last_op"] = c["op"]
            if c["op"] == "d":
                deleted, s["has_booking"] = True, False
            else:
                deleted = False
                s["has_booking"] = True
                for f in BOOKING_FIELDS:
                    s[f] = c.get(f)
        else:
            if pos <= (s["payment_lsn"], s["payment_ord"]):
                continue
            s["payment_lsn"], s["payment_ord"] = pos
            s["payment_status"] = c.get("payment_status")
        changed = True
    state.update(tuple(s[n] for n in names))  # a deleted booking keeps its position: a tombstone state
    # event-time timeout, once: the latest change + the timeout (never behind the watermark)
    latest = _ms(rows["commit_ts"].max())
    state.setTimeoutTimestamp(max(latest + timeout_ms, state.getCurrentWatermarkMs() + 1))
    if deleted:
        yield _output(booking_id, s, deleted=True)
    elif changed and s["has_booking"]:
        yield _output(booking_id, s, deleted=False)


STATE_SCHEMA_NAMES = [part.strip().split(" ")[0] for part in STATE_SCHEMA.split(",")]


def _ms(ts: Any) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)


def _output(booking_id: str, s: dict[str, Any], deleted: bool) -> pd.DataFrame:
    return pd.DataFrame({"state": [json.dumps({
        "booking_id": booking_id, "deleted": deleted, **{f: s[f] for f in BOOKING_FIELDS},
        "amount": float(s["amount"]) if s["amount"] is not None else None,
        "payment_status": s["payment_status"], "last_op": s["last_op"],
    })]})


@job(JOB, queries=(QUERY,), reads=(SOURCE,), writes=(SINK,))
def start(ctx: JobContext) -> list[Any]:
    func = functools.partial(fold, timeout_ms=duration_ms(ctx.cfg.state_timeout))
    states = fold_states(changes(ctx), "booking_id", func, STATE_SCHEMA, RECORD_SCHEMA)
    as_ts = lambda c: F.to_timestamp(f"{c}_at").alias(f"{c}_ts")  # noqa: E731
    record = F.struct(*[F.col(c) for c in ("booking_id", "user_id", "status", "payment_status", "amount", "currency",
                                           "destination", "hotel_id", "check_in", "check_out")],
                      as_ts("created"), as_ts("updated"), F.col("last_op"))
    value = F.when(F.col("deleted"), F.lit(None).cast("binary")).otherwise(ctx.codec.encode(record, SINK))
    out = states.select(F.col("booking_id").cast("binary").alias("key"), value.alias("value"))
    return [ctx.to_kafka(out, QUERY, SINK)]
