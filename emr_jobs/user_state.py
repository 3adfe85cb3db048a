"""App events + CDC → ``topic_user_state`` (query ``user_state``): one row per user, keyed by ``user_id``.

Fields: ``first_seen_ts``/``last_seen_ts`` (app events and the user row's ``created_at``),
``event_count`` (app events), ``session_count`` (distinct session ids), ``last_destination`` (last event
with a destination), ``home_city`` and ``segment`` (the ``users`` row), ``booking_count`` (bookings of
the user that exist, any status) and ``total_spend`` (sum of ``amount`` of its confirmed/completed
bookings), all from CDC. A deleted user emits a tombstone and drops its state.

Events are folded in event-time order, CDC changes in commit (LSN) order; a CDC change at or before the
position already folded is skipped. Spark commits state and offsets together, so a restart replays no
event twice into the counts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark.sql import functions as F

from emr_jobs.streams import JobContext
from emr_jobs.transforms import duration_ms, row_value

SINK = "topic_user_state"
QUERY = "user_state"
SPEND_STATUSES = ("confirmed", "completed")
#: Session ids remembered per user to count distinct sessions (older ones are forgotten).
MAX_SESSIONS = 2000

STATE_SCHEMA = ("first_seen long, last_seen long, event_count long, sessions string, session_count long, "
                "bookings string, last_destination string, home_city string, segment string, "
                "user_pos string, last_dest_ts long")
STATE_NAMES = [p.strip().split(" ")[0] for p in STATE_SCHEMA.split(",")]
OUTPUT_SCHEMA = ("user_id string, deleted boolean, first_seen_ts timestamp, last_seen_ts timestamp, "
                 "event_count long, session_count long, booking_count long, total_spend double, "
                 "last_destination string, segment string, home_city string, updated_ts timestamp")


def inputs(ctx: JobContext) -> Any:
    """App events and users/bookings changes as one stream of flat rows keyed by user_id."""
    ev = ctx.decoded("topic_app_events").select(
        "user_id", F.lit("event").alias("kind"), (F.col("event_ts").cast("double") * 1000).cast("long").alias("ts_ms"),
        F.lit(0).cast("long").alias("lsn"), F.lit(0).cast("long").alias("ord"), F.lit(None).cast("string").alias("op"),
        "session_id", "destination", (F.col("event_ts").cast("double") * 1000).cast("long").alias("commit_ms"),
        *[F.lit(None).cast("string").alias(c) for c in
                                       ("booking_id", "amount", "status", "home_city", "segment")])
    cdc = ctx.decoded("topic_cdc_changes").where(F.col("source.table").isin("users", "bookings") & (F.col("op") != "t"))
    is_user = F.col("source.table") == "users"
    created = F.to_timestamp(row_value("created_at"))
    ch = cdc.select(
        row_value("user_id").alias("user_id"),
        F.when(is_user, F.lit("user")).otherwise(F.lit("booking")).alias("kind"),
        (created.cast("double") * 1000).cast("long").alias("ts_ms"),
        F.coalesce(F.col("source.lsn"), F.lit(0)).alias("lsn"),
        F.coalesce(F.col("transaction.total_order"), F.lit(0)).alias("ord"),
        "op", F.lit(None).cast("string").alias("session_id"), F.lit(None).cast("string").alias("destination"),
        F.when(~is_user, row_value("booking_id")).alias("booking_id"),
        F.when(~is_user, row_value("amount")).alias("amount"),
        F.when(~is_user, row_value("status")).alias("status"),
        F.when(is_user, row_value("home_city")).alias("home_city"),
        F.when(is_user, row_value("segment")).alias("segment"),
        F.col("source.ts_ms").alias("commit_ms"),
    )
    rows = ev.unionByName(ch).where(F.col("user_id").isNotNull())
    # event time for the state timeout: the event's time, or the change's commit time
    return rows.withColumn("row_ts", F.timestamp_millis("commit_ms")).drop("commit_ms").withWatermark(
        "row_ts", ctx.cfg.state_timeout)


def _empty() -> dict[str, Any]:
    return {"first_seen": None, "last_seen": None, "event_count": 0, "sessions": "[]", "session_count": 0,
            "bookings": "{}", "last_destination": None, "home_city": None, "segment": None, "user_pos": "[-1,-1]",
            "last_dest_ts": -1}


def fold(key: tuple[str], batches: Iterator[pd.DataFrame], state: Any, timeout_ms: int = 30 * 86_400_000,
         ) -> Iterator[pd.DataFrame]:
    """applyInPandasWithState function: fold a user's events and changes, emit the new state."""
    (user_id,) = key
    if state.hasTimedOut:
        state.remove()
        return
    s = dict(zip(STATE_NAMES, state.get, strict=True)) if state.exists else _empty()
    sessions: list[str] = json.loads(s["sessions"])
    seen = set(sessions)
    bookings: dict[str, list[Any]] = json.loads(s["bookings"])  # booking_id -> [amount, status, lsn, ord]
    user_pos = tuple(json.loads(s["user_pos"]))
    deleted = False
    rows = pd.concat(list(batches))

    def seen_at(ts: Any) -> None:
        if ts is None or pd.isna(ts):
            return
        ts = int(ts)
        s["first_seen"] = ts if s["first_seen"] is None else min(s["first_seen"], ts)
        s["last_seen"] = ts if s["last_seen"] is None else max(s["last_seen"], ts)

    for r in rows.sort_values(["lsn", "ord"], kind="stable").itertuples(index=False):
        pos = (int(r.lsn), int(r.ord))
        if r.kind == "event":
            s["event_count"] += 1
            seen_at(r.ts_ms)
            if r.session_id and r.session_id not in seen:
                seen.add(r.session_id)
                sessions.append(r.session_id)
                s["session_count"] += 1
            if r.destination and int(r.ts_ms) >= s["last_dest_ts"]:
                s["last_destination"], s["last_dest_ts"] = r.destination, int(r.ts_ms)
        elif r.kind == "user":
            if pos <= user_pos:
                continue
            user_pos = pos
            seen_at(r.ts_ms)
            deleted = r.op == "d"
            if not deleted:
                s["home_city"], s["segment"] = r.home_city, r.segment
        else:
            prev = bookings.get(r.booking_id)
            if prev is not None and pos <= (prev[2], prev[3]):
                continue
            if r.op == "d":
                bookings.pop(r.booking_id, None)
            else:
                bookings[r.booking_id] = [r.amount, r.status, *pos]
    if deleted:
        state.remove()
        yield _output(user_id, s, bookings, deleted=True)
        return
    s["sessions"] = json.dumps(sessions[-MAX_SESSIONS:])
    s["bookings"] = json.dumps(bookings)
    s["user_pos"] = json.dumps(list(user_pos))
    state.update(tuple(s[n] for n in STATE_NAMES))
    latest = int(pd.Timestamp(rows["row_ts"].max()).value // 1_000_000)
    state.setTimeoutTimestamp(max(latest, state.getCurrentWatermarkMs()) + timeout_ms)
    if s["first_seen"] is not None:
        yield _output(user_id, s, bookings, deleted=False)


def _output(user_id: str, s: dict[str, Any], bookings: dict[str, list[Any]], deleted: bool) -> pd.DataFrame:
    spend = sum(float(a or 0) for a, status, *_ in bookings.values() if status in SPEND_STATUSES)
    ts = lambda ms: pd.Timestamp(ms, unit="ms", tz="UTC") if ms is not None else pd.NaT  # noqa: E731
    return pd.DataFrame([{
        "user_id": user_id, "deleted": deleted, "first_seen_ts": ts(s["first_seen"]),
        "last_seen_ts": ts(s["last_seen"]), "event_count": int(s["event_count"]),
        "session_count": int(s["session_count"]), "booking_count": len(bookings), "total_spend": spend,
        "last_destination": s["last_destination"], "segment": s["segment"], "home_city": s["home_city"],
        "updated_ts": pd.Timestamp.now(tz="UTC"),
    }])


def start(ctx: JobContext) -> list[Any]:
    from pyspark.sql.streaming.state import GroupStateTimeout

    func = functools.partial(fold, timeout_ms=duration_ms(ctx.cfg.state_timeout))
    states = inputs(ctx).groupBy("user_id").applyInPandasWithState(
        func, OUTPUT_SCHEMA, STATE_SCHEMA, "update", GroupStateTimeout.EventTimeTimeout)
    record = F.struct(*[F.col(c) for c in ("user_id", "first_seen_ts", "last_seen_ts", "event_count", "session_count",
                                           "booking_count", "total_spend", "last_destination", "segment",
                                           "home_city", "updated_ts")])
    value = F.when(F.col("deleted"), F.lit(None).cast("binary")).otherwise(ctx.codec.encode(record, SINK))
    return [ctx.to_kafka(states.select(F.col("user_id").cast("binary").alias("key"), value.alias("value")), QUERY,
                         SINK)]
