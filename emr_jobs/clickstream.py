"""Clickstream → ``topic_processed_events``: 10-minute windows sliding every 5 minutes, one query
(``clickstream``): one Kafka read, one decode, one aggregation emitting both kinds of ProcessedEvent:

``job=clickstream``
    clicks per ``page`` (page_url) and per ``element`` (element_id); key
    ``clickstream|<window start>|page=<url>`` / ``…|element=<id>``.
``job=clickstream_heatmap``
    clicks per heat-map cell: x and y bucketed relative to the viewport (``EB_SPARK_HEATMAP_GRID``
    cells per axis), per page and device type; entity ``<page_url>|<device_type>|<gx>,<gy>``,
    metrics ``gx``, ``gy``.

Event time: ``least(event_ts, Kafka timestamp + skew)``; each ``click_id`` counted once per window; a
click is dropped from a window whose end is at or before the watermark (``emr_jobs.event_time``).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from emr_jobs.event_time import clamp, distinct_in_windows, observe_event_time
from emr_jobs.jobs import job
from emr_jobs.streams import JobContext
from emr_jobs.transforms import processed_events

SOURCE = "topic_clickstream"
SINK = "topic_processed_events"
QUERY = "clickstream"
FIELDS = ("click_id", "event_ts", "page_url", "element_id", "x", "y", "viewport_width", "viewport_height",
          "device_type")


def clicks(ctx: JobContext) -> DataFrame:
    spec = ctx.codec.catalog.get(SOURCE)
    assert spec.event_time is not None and spec.dedup_key, f"{SOURCE}: catalog lacks event_time/dedup_key"
    ev = ctx.decoded({SOURCE: FIELDS}).select(f"{SOURCE}.*", "kafka_ts")
    return observe_event_time(clamp(ev, spec.event_time), QUERY).withWatermark("ts", ctx.cfg.watermark)


def grid_cell(coord: str, extent: str, grid: int) -> Any:
    """The cell index of ``coord`` within ``extent`` pixels, clamped to 0..grid-1."""
    raw = F.floor(F.col(coord) * grid / F.greatest(F.col(extent), F.lit(1)))
    return F.least(F.greatest(raw, F.lit(0)), F.lit(grid - 1)).cast("int")


def window_rows(ev: DataFrame, size_min: int, slide_min: int, grid: int, key: str = "click_id") -> DataFrame:
    """One row per distinct (click, window) with page, element, device and heat-map cell."""
    cells = ev.select(key, "ts", "page_url", "element_id", F.col("device_type").cast("string").alias("device_type"),
                      grid_cell("x", "viewport_width", grid).alias("gx"),
                      grid_cell("y", "viewport_height", grid).alias("gy"))
    window = F.window("ts", f"{size_min} minutes", f"{slide_min} minutes")
    return distinct_in_windows(cells, key, window, "page_url", "element_id", "device_type", "gx", "gy")


def window_counts(rows: DataFrame) -> DataFrame:
    """(window, job, entity_type, entity_id, event_count, metrics) for pages, elements and heat-map cells."""
    heat_id = F.concat_ws("|", "page_url", "device_type", F.concat_ws(",", "gx", "gy"))
    none = F.lit(None).cast("int")
    entities = F.array(
        F.struct(F.lit("clickstream").alias("job"), F.lit("page").alias("entity_type"),
                 F.col("page_url").alias("entity_id"), none.alias("gx"), none.alias("gy")),
        F.struct(F.lit("clickstream").alias("job"), F.lit("element").alias("entity_type"),
                 F.col("element_id").alias("entity_id"), none.alias("gx"), none.alias("gy")),
        F.struct(F.lit("clickstream_heatmap").alias("job"), F.lit("heatmap").alias("entity_type"),
                 heat_id.alias("entity_id"), F.col("gx"), F.col("gy")),
    )
    agg = rows.select("window", F.explode(entities).alias("e")).groupBy(
        "window", "e.job", "e.entity_type", "e.entity_id", "e.gx", "e.gy").agg(F.count(F.lit(1)).alias("event_count"))
    metrics = F.when(F.col("gx").isNotNull(), F.create_map(F.lit("gx"), F.col("gx").cast("double"), F.lit("gy"),
                                                           F.col("gy").cast("double"))
                     ).otherwise(F.create_map().cast("map<string,double>"))
    return agg.select("window", "job", "entity_type", "entity_id", "event_count", metrics.alias("metrics"))


@job(QUERY, queries=(QUERY,), reads=(SOURCE,), writes=(SINK,))
def start(ctx: JobContext) -> list[Any]:
    cfg = ctx.cfg
    if cfg.click_window_minutes % cfg.click_slide_minutes:
        raise ValueError("EB_SPARK_CLICK_WINDOW_MINUTES must be a multiple of EB_SPARK_CLICK_SLIDE_MINUTES")
    key = str(ctx.codec.catalog.get(SOURCE).dedup_key)
    rows = window_rows(clicks(ctx), cfg.click_window_minutes, cfg.click_slide_minutes, cfg.heatmap_grid, key)
    out = processed_events(window_counts(rows), F.col("job"), ctx.codec, metrics=F.col("metrics"))
    return [ctx.to_kafka(out, QUERY, SINK)]
