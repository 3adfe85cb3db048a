"""App events → ``topic_processed_events``: event-time tumbling windows with a watermark.

Queries (names are stable; the console reads their progress files):

``app_events_windows``
    per window: events per ``event_type``, ``platform`` and ``destination`` (one row per entity),
    key ``app_events|<window start>|<entity_type>=<entity_id>``.
``app_events_funnel``
    per window: sessions that searched, of those that viewed a hotel (``booking_view``), of those that
    booked (``booking_created``); ``conversion`` = booked / searched. Key ``app_events_funnel|<start>|funnel=…``.

Output mode ``update``: a window's row is re-emitted while it changes and the last value per key is the
final one. Events older than the watermark (max event time - ``EB_SPARK_WATERMARK``) are dropped and
counted by Spark (``stateOperators[].numRowsDroppedByWatermark`` in the progress JSON).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from emr_jobs.streams import JobContext
from emr_jobs.transforms import processed_events

SOURCE = "topic_app_events"
SINK = "topic_processed_events"
DIMENSIONS = ("event_type", "platform", "destination")
FUNNEL = ("search", "booking_view", "booking_created")
FUNNEL_ID = ">".join(FUNNEL)


def events(ctx: JobContext) -> Any:
    return ctx.decoded(SOURCE).withWatermark("event_ts", ctx.cfg.watermark)


def window_counts(ev: Any, minutes: int) -> Any:
    """(window, entity_type, entity_id, event_count) — one row per event and dimension, then counted."""
    dims = F.array(*[F.struct(F.lit(d).alias("entity_type"), F.col(d).cast("string").alias("entity_id"))
                     for d in DIMENSIONS])
    rows = ev.select("event_ts", F.explode(dims).alias("d")).where(F.col("d.entity_id").isNotNull())
    return rows.groupBy(F.window("event_ts", f"{minutes} minutes"), "d.entity_type", "d.entity_id").agg(
        F.count(F.lit(1)).alias("event_count"))


def funnel(ev: Any, minutes: int) -> Any:
    """(window, sessions per funnel step): exact distinct sessions, via per-window session sets."""
    sets = [F.collect_set(F.when(F.col("event_type") == step, F.col("session_id"))).alias(f"s{i}")
            for i, step in enumerate(FUNNEL)]
    agg = ev.groupBy(F.window("event_ts", f"{minutes} minutes")).agg(*sets)
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
    return agg.select("window", F.lit("funnel").alias("entity_type"), F.lit(FUNNEL_ID).alias("entity_id"),
                      n0.alias("event_count"), metrics.alias("metrics"))


def start(ctx: JobContext) -> list[Any]:
    minutes = ctx.cfg.window_minutes
    windows = processed_events(window_counts(events(ctx), minutes), "app_events", ctx.codec)
    f = funnel(events(ctx), minutes)
    funnel_out = processed_events(f, "app_events_funnel", ctx.codec, metrics=F.col("metrics"))
    return [ctx.to_kafka(windows, "app_events_windows", SINK), ctx.to_kafka(funnel_out, "app_events_funnel", SINK)]
