"""Column transforms shared by the jobs: processed-event rows and keys, Debezium row images, keyed state folds.

    >>> out = processed_events(agg, job="app_events", codec=ctx.codec)   # key, value for Kafka
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

from emr_jobs.wire import WireCodec

ISO_MINUTE = "yyyy-MM-dd'T'HH:mm'Z'"


def window_key(job: str | Column, window_col: str = "window") -> Column:
    """``job|window start|entity_type=entity_id`` — a replay of a window rewrites the same key."""
    return F.concat_ws(
        "|", F.lit(job) if isinstance(job, str) else job, F.date_format(F.col(f"{window_col}.start"), ISO_MINUTE),
        F.concat(F.col("entity_type"), F.lit("="), F.col("entity_id")),
    )


def processed_events(agg: Any, job: str | Column, codec: WireCodec, metrics: Column | None = None) -> Any:
    """``agg`` (window, entity_type, entity_id, event_count[, metrics]) as key/value rows of
    ``topic_processed_events`` (ProcessedEvent, Glue wire format); ``job`` a name or a column."""
    key = window_key(job)
    record = F.struct(
        key.alias("key"),
        (F.lit(job) if isinstance(job, str) else job).alias("job"),
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        F.col("entity_type"),
        F.col("entity_id"),
        F.col("event_count").cast("long").alias("event_count"),
        (metrics if metrics is not None else F.create_map().cast("map<string,double>")).alias("metrics"),
        F.current_timestamp().alias("computed_ts"),
    )
    return agg.select(key.cast("binary").alias("key"), codec.encode(record, "topic_processed_events").alias("value"))


def cell(image: str, column: str) -> Column:
    """A column of a Debezium row image (``before``/``after`` map of Avro unions) as a string."""
    v = F.col(image)[column]
    return F.coalesce(v["member_string"], v["member_long"].cast("string"), v["member_double"].cast("string"),
                      v["member_boolean"].cast("string"))


def row_value(column: str) -> Column:
    """``column`` of the row the change is about: ``before`` for deletes, ``after`` otherwise."""
    return F.when(F.col("op") == "d", cell("before", column)).otherwise(cell("after", column))


#: What a state fold (``fold_states``) yields: one JSON column, parsed in Spark. Each column of a fold's input
#: or output costs the Python worker an Arrow<->pandas conversion per key and micro-batch (~50-90 us; a
#: timestamp column ~2-4x that), which with a few rows per key per micro-batch is most of the fold's time;
#: so the folds take their rarer fields packed as JSON too, and return times as epoch ms or ISO strings.
FOLD_OUTPUT = "state string"


def fold_states(rows: Any, key: str, fold: Callable[..., Iterator[pd.DataFrame]], state_schema: str,
                record_schema: str) -> Any:
    """``rows`` grouped by ``key`` and folded by ``fold`` (``applyInPandasWithState``, update mode, an
    event-time timeout), its ``FOLD_OUTPUT`` records parsed with ``record_schema`` into columns."""
    from pyspark.sql.streaming.state import GroupStateTimeout

    return rows.groupBy(key).applyInPandasWithState(
        fold, FOLD_OUTPUT, state_schema, "update", GroupStateTimeout.EventTimeTimeout,
    ).select(F.from_json("state", record_schema).alias("s")).select("s.*")


def fold_input(batches: Iterator[pd.DataFrame]) -> pd.DataFrame:
    """A key's rows of one micro-batch as one frame (Arrow hands them over in one or more batches)."""
    frames = list(batches)
    return frames[0] if len(frames) == 1 else pd.concat(frames)
