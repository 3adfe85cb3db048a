"""Event time that one client cannot move, and each event counted once: the catalog's ``event_time`` and
``dedup_key`` contract (schemas/topics.yaml) as DataFrame transforms, shared by every job that counts or
folds client events. Pure functions of DataFrames: they run on ``createDataFrame`` data in unit tests.

    >>> ev = clamp(flat, catalog.get("topic_app_events").event_time)   # + ts, clamped
    >>> ev = observe_event_time(ev, "app_events").withWatermark("ts", "10 minutes")
    >>> rows = distinct_in_windows(ev, "event_id", F.window("ts", "5 minutes"), "event_type", "platform")

Rules (emr_jobs/README.md "Event time, duplicates and late rows"):

1. effective event time ``ts = least(event_ts, trusted + max_future_skew_s)``; trusted is a field
   (``received_ts``) or the Kafka record timestamp. Late timestamps are not moved: the watermark decides.
2. ``dedup_key`` is counted once per window (windows) or once within the watermark (state).
3. watermark = max ``ts`` seen - ``EB_SPARK_WATERMARK``; a row is dropped when its window's end is at or
   before the watermark of the micro-batch that processes it (state queries: when its ``ts`` is).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from eventbus.catalog import KAFKA_TIMESTAMP, EventTime


def clamp(df: DataFrame, et: EventTime, kafka_ts: str = "kafka_ts") -> DataFrame:
    """``df`` plus ``ts`` (the effective event time) and ``clamped`` (the client's time was ahead of it)."""
    trusted = F.col(kafka_ts) if et.trusted == KAFKA_TIMESTAMP else F.col(et.trusted)
    bound = F.timestamp_millis(F.unix_millis(trusted) + F.lit(et.max_future_skew_ms))
    event = F.col(et.field)
    return df.withColumn("clamped", F.coalesce(event > bound, F.lit(False))).withColumn(
        "ts", F.least(event, bound))


def observe_event_time(df: DataFrame, name: str) -> DataFrame:
    """Count rows and clamped rows per micro-batch: ``observedMetrics.<name>`` in the query's progress
    (what the console shows beside the watermark's dropped rows)."""
    return df.observe(name, F.count(F.lit(1)).alias("events"),
                      F.coalesce(F.sum(F.col("clamped").cast("long")), F.lit(0)).alias("clamped"))


def distinct_in_windows(df: DataFrame, key: str, window: Column, *columns: str) -> DataFrame:
    """One row per (``key``, window) with ``columns``: duplicates of an event in a window are dropped.

    The window (not ``ts``) is the stream's event-time column from here on, so Spark's late-row rule
    is the window's end against the watermark, in the de-duplication (where dropped rows are counted,
    ``numRowsDroppedByWatermark``) and in the aggregation after it; dedup state of a window is dropped
    when the window closes. ``ts`` itself is not carried on (one event-time column per stream)."""
    return df.select(key, *columns, window.alias("window")).dropDuplicates([key, "window"])


def window_of(start: Column, end: Column) -> Column:
    return F.struct(start.alias("start"), end.alias("end"))

