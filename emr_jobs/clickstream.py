"""Clickstream → ``topic_processed_events``: 10-minute windows sliding every 5 minutes.

``clickstream_windows``
    clicks per ``page`` (page_url) and per ``element`` (element_id); key
    ``clickstream|<window start>|page=<url>`` / ``…|element=<id>``.
``clickstream_heatmap``
    clicks per heat-map cell: x and y bucketed relative to the viewport (``EB_SPARK_HEATMAP_GRID``
    cells per axis), per page and device type; entity ``<page_url>|<device_type>|<gx>,<gy>``,
    metrics ``gx``, ``gy``.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from emr_jobs.streams import JobContext
from emr_jobs.transforms import processed_events

SOURCE = "topic_clickstream"
SINK = "topic_processed_events"


def clicks(ctx: JobContext) -> Any:
    return ctx.decoded(SOURCE).withWatermark("event_ts", ctx.cfg.watermark)


def _window(ctx: JobContext) -> Any:
    return F.window("event_ts", f"{ctx.cfg.click_window_minutes} minutes", f"{ctx.cfg.click_slide_minutes} minutes")


def page_element_counts(ev: Any, window: Any) -> Any:
    dims = F.array(F.struct(F.lit("page").alias("entity_type"), F.col("page_url").alias("entity_id")),
                   F.struct(F.lit("element").alias("entity_type"), F.col("element_id").alias("entity_id")))
    rows = ev.select("event_ts", F.explode(dims).alias("d"))
    return rows.groupBy(window, "d.entity_type", "d.entity_id").agg(F.count(F.lit(1)).alias("event_count"))


def grid_cell(coord: str, extent: str, grid: int) -> Any:
    """The cell index of ``coord`` within ``extent`` pixels, clamped to 0..grid-1."""
    raw = F.floor(F.col(coord) * grid / F.greatest(F.col(extent), F.lit(1)))
    return F.least(F.greatest(raw, F.lit(0)), F.lit(grid - 1)).cast("int")


def heatmap_counts(ev: Any, window: Any, grid: int) -> Any:
    cells = ev.select("event_ts", "page_url", F.col("device_type").cast("string").alias("device_type"),
                      grid_cell("x", "viewport_width", grid).alias("gx"),
                      grid_cell("y", "viewport_height", grid).alias("gy"))
    agg = cells.groupBy(window, "page_url", "device_type", "gx", "gy").agg(F.count(F.lit(1)).alias("event_count"))
    return agg.select(
        "window", F.lit("heatmap").alias("entity_type"),
        F.concat_ws("|", "page_url", "device_type", F.concat_ws(",", "gx", "gy")).alias("entity_id"),
        "event_count",
        F.create_map(F.lit("gx"), F.col("gx").cast("double"), F.lit("gy"), F.col("gy").cast("double")).alias("metrics"),
    )


def start(ctx: JobContext) -> list[Any]:
    counts = processed_events(page_element_counts(clicks(ctx), _window(ctx)), "clickstream", ctx.codec)
    heat = heatmap_counts(clicks(ctx), _window(ctx), ctx.cfg.heatmap_grid)
    heat_out = processed_events(heat, "clickstream_heatmap", ctx.codec, metrics=F.col("metrics"))
    return [ctx.to_kafka(counts, "clickstream_windows", SINK), ctx.to_kafka(heat_out, "clickstream_heatmap", SINK)]
