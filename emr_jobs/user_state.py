"""App events + CDC → ``topic_user_state`` (query ``user_state``): one row per user, keyed by ``user_id``.

Fields: ``first_seen_ts``/``last_seen_ts`` (app events and the user row's ``created_at``),
``event_count`` (app events), ``session_count`` (distinct session ids), ``last_destination`` (last event
with a destination), ``home_city`` and ``segment`` (the ``users`` row), ``booking_count`` (bookings of
the user that exist, any status) and ``total_spend`` (sum of ``amount`` of its confirmed/completed
bookings), all from CDC. A deleted user emits a tombstone and keeps a tombstone state with its
position (LSN), so a re-delivered older change cannot bring it back; only a newer change of the row does.

Events are folded in event-time order, CDC changes in commit (LSN) order; a CDC change at or before the
position already folded is skipped. Each ``event_id`` is folded once (de-duplicated within the
watermark, ``EB_SPARK_WATERMARK``; rows behind the watermark are dropped and counted). State — tombstones
included — is dropped once the watermark passes its latest row time + ``EB_SPARK_STATE_TIMEOUT``. Spark
commits state and offsets together, so a restart replays no event twice into the counts.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from emr_jobs.event_time import clamp, observe_event_time
from emr_jobs.jobs import job
from emr_jobs.streams import JobContext
from emr_jobs.transforms import cell, fold_input, fold_states
from eventbus.durations import duration_ms

SINK = "topic_user_state"
QUERY = "user_state"
SPEND_STATUSES = ("confirmed", "completed")
#: Session ids remembered per user to count distinct sessions (older ones are forgotten).
MAX_SESSIONS = 2000
#: The last element of a deleted booking's entry in the state's ``bookings``: it keeps the delete's position
#: (lsn, ord) until the user's state times out, and counts neither as a booking nor as spend.
DELETED = "d"

STATE_SCHEMA = ("first_seen long, last_seen long, event_count long, sessions string, session_count long, "
                "bookings string, last_destination string, home_city string, segment string, "
                "user_pos string, last_dest_ts long, deleted boolean, last_ts long")
STATE_NAMES = [p.strip().split(" ")[0] for p in STATE_SCHEMA.split(",")]
#: The fold's output record (``transforms.FOLD_OUTPUT``, parsed in Spark); times as epoch milliseconds,
#: made timestamps in Spark (a timestamp column costs the Python worker about twice a long one).
RECORD_SCHEMA = ("user_id string, deleted boolean, first_seen_ms long, last_seen_ms long, "
                 "event_count long, session_count long, booking_count long, total_spend double, "
                 "last_destination string, segment string, home_city string, updated_ms long")


APP = "topic_app_events"
CDC = "topic_cdc_changes"
#: The CDC tables folded (checked against the catalog's publication as the query is built).
USERS, BOOKINGS = "users", "bookings"
APP_FIELDS = ("event_id", "event_ts", "received_ts", "user_id", "session_id", "destination")
CDC_FIELDS = ("before", "after", "source", "op", "transaction")


def inputs(ctx: JobContext) -> Any:
    """App events and users/bookings changes as one stream of flat rows keyed by user_id: one Kafka read
    and one decode per topic, each topic with its own watermark."""
    spec = ctx.codec.catalog.get(APP)
    assert spec.event_time is not None and spec.dedup_key
    ctx.tables(CDC, USERS, BOOKINGS)
    app = ctx.decoded({APP: APP_FIELDS})
    app = observe_event_time(clamp(app.select("topic", "kafka_ts", "partition", "offset", f"{APP}.*"),
                                   spec.event_time), QUERY)
    return rows_of(app, ctx.decoded({CDC: CDC_FIELDS}), ctx.cfg.watermark, spec.dedup_key)


def rows_of(app: Any, cdc: Any, watermark: str, dedup_key: str = "event_id") -> Any:
    """The fold's input rows: decoded app events (flat, with ``ts``) de-duplicated on ``dedup_key`` within
    their watermark, and users/bookings changes (``CDC`` struct) with theirs on the commit time; ``row_ts``
    = the event time or the commit time."""
    is_user = F.col(f"{CDC}.source.table") == USERS
    cdc_value = lambda c: F.when(F.col(f"{CDC}.op") == "d", cell(f"{CDC}.before", c)).otherwise(  # noqa: E731
        cell(f"{CDC}.after", c))
    ts_ms = (F.col("ts").cast("double") * 1000).cast("long")
    created = (F.to_timestamp(cdc_value("created_at")).cast("double") * 1000).cast("long")
    events = app.select(
        F.col("user_id"), F.lit("event").alias("kind"), ts_ms.alias("ts_ms"), F.col("session_id"),
        F.col("destination"), F.lit(None).cast("string").alias("change"), F.col("ts").alias("row_ts"),
        F.col(dedup_key).alias("dedup_id"),
    ).where(F.col("user_id").isNotNull())
    events = events.withWatermark("row_ts", watermark).dropDuplicatesWithinWatermark(["dedup_id"]).drop("dedup_id")
    changes = cdc.where(F.col(f"{CDC}.source.table").isin(USERS, BOOKINGS) & (F.col(f"{CDC}.op") != "t")).select(
        cdc_value("user_id").alias("user_id"),
        F.when(is_user, F.lit("user")).otherwise(F.lit("booking")).alias("kind"),
        created.alias("ts_ms"),
        F.lit(None).cast("string").alias("session_id"),
        F.lit(None).cast("string").alias("destination"),
        F.to_json(F.struct(
            F.coalesce(F.col(f"{CDC}.source.lsn"), F.lit(0)).cast("long").alias("lsn"),
            F.coalesce(F.col(f"{CDC}.transaction.total_order"), F.lit(0)).cast("long").alias("ord"),
            F.col(f"{CDC}.op").alias("op"),
            F.when(~is_user, cdc_value("booking_id")).alias("booking_id"),
            F.when(~is_user, cdc_value("amount")).alias("amount"),
            F.when(~is_user, cdc_value("status")).alias("status"),
            F.when(is_user, cdc_value("home_city")).alias("home_city"),
            F.when(is_user, cdc_value("segment")).alias("segment"),
        )).alias("change"),
        # never behind the app events' watermark (<= now - 5 min: event times are clamped to received + 300 s),
        # so the fold's late filter keeps every change; the fold orders changes by (lsn, ord), not by time
        F.current_timestamp().alias("row_ts"),
    ).where(F.col("user_id").isNotNull())
    return events.unionByName(changes)  # events first: the union's row_ts is theirs, with their watermark


def _empty() -> dict[str, Any]:
    return {"first_seen": None, "last_seen": None, "event_count": 0, "sessions": "[]", "session_count": 0,
            "bookings": "{}", "last_destination": None, "home_city": None, "segment": None, "user_pos": "[-1,-1]",
            "last_dest_ts": -1, "deleted": False, "last_ts": -1}


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
    # booking_id -> [amount, status, lsn, ord] (+ DELETED for a deleted booking's tombstone)
    bookings: dict[str, list[Any]] = json.loads(s["bookings"])
    user_pos = tuple(json.loads(s["user_pos"]))
    was_deleted = bool(s["deleted"])
    rows = fold_input(batches)

    def seen_at(ts: Any) -> None:
        if ts is None or pd.isna(ts):
            return
        ts = int(ts)
        s["first_seen"] = ts if s["first_seen"] is None else min(s["first_seen"], ts)
        s["last_seen"] = ts if s["last_seen"] is None else max(s["last_seen"], ts)

    is_event = (rows["kind"] == "event").to_numpy()
    if is_event.any():  # app events, vectorised: their fields do not depend on the CDC rows' order
        s["event_count"] += int(is_event.sum())
        ts_ms = rows["ts_ms"].to_numpy()[is_event]
        timed = ts_ms[~pd.isna(ts_ms)]
        if len(timed):
            seen_at(timed.min())
            seen_at(timed.max())
        for sid in pd.unique(rows["session_id"].to_numpy()[is_event]):  # in order of first appearance
            if sid and sid not in seen:
                seen.add(sid)
                sessions.append(sid)
                s["session_count"] += 1
        dests = rows["destination"].to_numpy()[is_event]
        has = np.fromiter((bool(d) for d in dests), dtype=bool, count=len(dests))
        if has.any():  # the latest event with a destination; of equal times the last one, as before
            dest_ts = ts_ms[has].astype("int64")
            latest = int(dest_ts.max())
            if latest >= s["last_dest_ts"]:
                s["last_destination"], s["last_dest_ts"] = dests[has][dest_ts == latest][-1], latest
    cdc = ~is_event
    changes = sorted(  # commit order: (lsn, order in the transaction); stable for equal positions
        ((json.loads(c), kind, ts) for c, kind, ts in zip(rows["change"].to_numpy()[cdc], rows["kind"].to_numpy()[cdc],
                                                           rows["ts_ms"].to_numpy()[cdc], strict=True)),
        key=lambda r: (r[0]["lsn"], r[0]["ord"])) if cdc.any() else []
    for c, kind, ts in changes:
        pos = (int(c["lsn"]), int(c["ord"]))
        if kind == "user":
            if pos <= user_pos:
                continue
            user_pos = pos
            seen_at(ts)
            s["deleted"] = c["op"] == "d"
            if not s["deleted"]:
                s["home_city"], s["segment"] = c.get("home_city"), c.get("segment")
        else:
            booking_id = c.get("booking_id")
            prev = bookings.get(booking_id)
            if prev is not None and pos <= (prev[2], prev[3]):
                continue
            if c["op"] == "d":  # a tombstone keeping its position: an older change re-delivered stays out
                bookings[booking_id] = [None, None, *pos, DELETED]
            else:
                bookings[booking_id] = [c.get("amount"), c.get("status"), *pos]
    s["sessions"] = json.dumps(sessions[-MAX_SESSIONS:])
    s["bookings"] = json.dumps(bookings)
    s["user_pos"] = json.dumps(list(user_pos))
    s["last_ts"] = max(int(s["last_ts"]), int(pd.Timestamp(rows["row_ts"].max()).value // 1_000_000))
    state.update(tuple(s[n] for n in STATE_NAMES))
    # once: the latest row time + the timeout (the watermark's own delay is not added on top)
    state.setTimeoutTimestamp(max(s["last_ts"] + timeout_ms, state.getCurrentWatermarkMs() + 1))
    if s["deleted"]:
        if not was_deleted:
            yield _output(user_id, s, bookings, deleted=True)
    elif s["first_seen"] is not None:
        yield _output(user_id, s, bookings, deleted=False)


def _output(user_id: str, s: dict[str, Any], bookings: dict[str, list[Any]], deleted: bool) -> pd.DataFrame:
    live = [b for b in bookings.values() if b[4:] != [DELETED]]
    spend = sum(float(a or 0) for a, status, *_ in live if status in SPEND_STATUSES)
    return pd.DataFrame({"state": [json.dumps({
        "user_id": user_id, "deleted": deleted, "first_seen_ms": s["first_seen"], "last_seen_ms": s["last_seen"],
        "event_count": int(s["event_count"]), "session_count": int(s["session_count"]),
        "booking_count": len(live), "total_spend": spend, "last_destination": s["last_destination"],
        "segment": s["segment"], "home_city": s["home_city"], "updated_ms": time.time_ns() // 1_000_000,
    })]})


@job(QUERY, queries=(QUERY,), reads=(APP, CDC), writes=(SINK,))
def start(ctx: JobContext) -> list[Any]:
    func = functools.partial(fold, timeout_ms=duration_ms(ctx.cfg.state_timeout))
    states = fold_states(inputs(ctx), "user_id", func, STATE_SCHEMA, RECORD_SCHEMA)
    as_ts = lambda c: F.timestamp_millis(F.col(f"{c}_ms")).alias(f"{c}_ts")  # noqa: E731
    record = F.struct(F.col("user_id"), as_ts("first_seen"), as_ts("last_seen"),
                      *[F.col(c) for c in ("event_count", "session_count", "booking_count", "total_spend",
                                           "last_destination", "segment", "home_city")], as_ts("updated"))
    value = F.when(F.col("deleted"), F.lit(None).cast("binary")).otherwise(ctx.codec.encode(record, SINK))
    return [ctx.to_kafka(states.select(F.col("user_id").cast("binary").alias("key"), value.alias("value")), QUERY,
                         SINK)]
