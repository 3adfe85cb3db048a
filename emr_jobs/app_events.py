"""App events → ``topic_processed_events``: event-time tumbling windows, one query (``app_events``).

One Kafka read and one decode (of the 7 fields the windows need) feed one aggregation that emits, per
window, both kinds of ProcessedEvent (unchanged record format and keys):

``job=app_events``
    events per ``event_type``, ``platform`` and ``destination`` (one row per entity), key
    ``app_events|<window start>|<entity_type>=<entity_id>``.
``job=app_events_funnel``
    sessions that searched, of those that viewed a hotel (``booking_view``), of those that booked
    (``booking_created``); ``conversion`` = booked / searched. Key ``app_events_funnel|<start>|funnel=…``.

Event time is clamped, each ``event_id`` counted once per window and late rows dropped by the rules of
``emr_jobs.event_time``. Output mode ``update``: a window's row is re-emitted while it changes and the
last value per key is the final one.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from emr_jobs.event_time import clamp, distinct_in_windows, observe_event_time
from emr_jobs.jobs import job
from emr_jobs.streams import JobContext
from emr_jobs.transforms import processed_events

SOURCE = "topic_app_events"
SINK = "topic_processed_events"
QUERY = "app_events"
DIMENSIONS = ("event_type", "platform", "destination")
FUNNEL = ("search", "booking_view", "booking_created")
FUNNEL_ID = ">".join(FUNNEL)
FUNNEL_JOB = "app_events_funnel"
#: What the windows read of an AppEvent (the projected reader schema).
FIELDS = ("event_id", "event_type", "event_ts", "received_ts", "session_id", "platform", "destination")


def events(ctx: JobContext) -> DataFrame:
    """Decoded app events with the effective event time ``ts`` and the watermark on it."""
    spec = ctx.codec.catalog.get(SOURCE)
    assert spec.event_time is not None and spec.dedup_key, f"{SOURCE}: catalog lacks event_time/dedup_key"
    ev = ctx.decoded({SOURCE: FIELDS}).select(f"{SOURCE}.*", "kafka_ts")
    return observe_event_time(clamp(ev, spec.event_time), QUERY).withWatermark("ts", ctx.cfg.watermark)


def window_rows(ev: DataFrame, minutes: int, key: str = "event_id") -> DataFrame:
    """One row per distinct (event, window): ``key``, the dimensions, ``session_id``, ``window``."""
    return distinct_in_windows(ev, key, F.window("ts", f"{minutes} minutes"), *DIMENSIONS, "session_id")


def window_counts(rows: DataFrame) -> DataFrame:
    """(window, job, entity_type, entity_id, event_count, metrics): the dimension counts and the funnel
    of every window, from one aggregation."""
    entities = [F.struct(F.lit("app_events").alias("job"), F.lit(d).alias("entity_type"),
                         F.col(d).cast("string").alias("entity_id")) for d in DIMENSIONS]
    entities.append(F.struct(F.lit(FUNNEL_JOB).alias("job"), F.lit("funnel").alias("entity_type"),
                             F.lit(FUNNEL_ID).alias("entity_id")))
    exploded = rows.select("window", F.col("event_type").cast("string").alias("event_type"), "session_id",
                           F.explode(F.array(*entities)).alias("e")).where(F.col("e.entity_id").isNotNull())
    is_funnel = F.col("e.job") == FUNNEL_JOB
    sets = [F.collect_set(F.when(is_funnel & (F.col("event_type") == step), F.col("session_id"))).alias(f"s{i}")
            for i, step in enumerate(FUNNEL)]
    agg = exploded.groupBy("window", "e.job", "e.entity_type", "e.entity_id").agg(
        F.count(F.lit(1)).alias("n"), *sets)
    return agg.select("window", "job", "entity_type", "entity_id", *funnel_metrics(F.col("job") == FUNNEL_JOB))


def funnel_metrics(is_funnel: Column) -> list[Column]:
    """``event_count`` and ``metrics`` from the per-window session sets s0 ⊇ s1 ∩ s0 ⊇ s2 ∩ s1 ∩ s0."""
    searched = F.col("s0")
    viewed = F.array_intersect(searched, F.col("s1"))
    booked = F.array_intersect(viewed, F.col("s2"))
    n0, n1, n2 = F.size(searched), F.size(viewed), F.size(booked)
    metrics = F.create_map(
        F.lit("sessions_search"), n0.cast("double"),
        F.lit("sessions_view"), n1.cast("double"),
        F.lit("sessions_booked"), n2.cast("double"),
        F.lit("conversion"), F.when(n0 > 0, n2 / n0).otherwise(F.lit(0.0)),
    )
    empty = F.create_map().cast("map<string,double>")
    return [F.when(is_funnel, n0).otherwise(F.col("n")).cast("long").alias("event_count"),
            F.when(is_funnel, metrics).otherwise(empty).alias("metrics")]


@job(QUERY, queries=(QUERY,), reads=(SOURCE,), writes=(SINK,))
def start(ctx: JobContext) -> list[Any]:
    key = str(ctx.codec.catalog.get(SOURCE).dedup_key)
    counts = window_counts(window_rows(events(ctx), ctx.cfg.window_minutes, key))
    out = processed_events(counts, F.col("job"), ctx.codec, metrics=F.col("metrics"))
    return [ctx.to_kafka(out, QUERY, SINK)]
