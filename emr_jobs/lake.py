"""Every source topic → Parquet in the lake, and every record that does not decode → ``topic_dead_letter``
(query ``lake``).

Layout: ``<lake root>/topic=<topic>/date=YYYY-MM-DD/hour=HH/*.parquet`` (date/hour of the Kafka record
timestamp, UTC), the record's fields plus ``kafka_partition``, ``kafka_offset``, ``kafka_ts``. The lake
root is ``EB_SPARK_LAKE_ROOT`` (default: the state folder's ``spark/lake`` locally,
``s3://<lake bucket>/lake`` on EMR).

Guarantee: at-least-once. A micro-batch that fails is re-run from the checkpoint and may append its
rows again; (topic, kafka_partition, kafka_offset) is unique per source record, so readers dedupe on it.
Dead letters carry the original key/value/partition/offset and the reason, keyed by the original topic.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions as F

from emr_jobs.streams import SOURCE_TOPICS, JobContext, sink_options

QUERY = "lake"
DEAD_LETTER = "topic_dead_letter"


def dead_letters(bad: Any, logical: str, ctx: JobContext) -> Any:
    """key/value rows of DeadLetter records for undecodable rows of ``logical``."""
    record = F.struct(
        F.lit(logical).alias("original_topic"),
        F.col("key").alias("original_key"),
        F.col("value").alias("original_value"),
        F.col("partition").alias("original_partition"),
        F.col("offset").alias("original_offset"),
        F.col("error_type"),
        F.col("error_message"),
        F.lit("spark").alias("component"),
        F.current_timestamp().alias("failed_ts"),
        F.lit(1).alias("attempt"),
        F.create_map(F.lit("query"), F.lit(QUERY), F.lit("schema_version"),
                     F.coalesce(F.col("schema_version"), F.lit(""))).alias("headers"),
    )
    return bad.select(F.lit(logical).cast("binary").alias("key"), ctx.codec.encode(record, DEAD_LETTER).alias("value"))


def write_batch(ctx: JobContext, batch: Any, batch_id: int) -> None:
    """foreachBatch: per topic, decodable rows to Parquet, the rest to the dead-letter topic."""
    batch = batch.persist()
    try:
        actual = {ctx.topic(t): t for t in SOURCE_TOPICS}
        present = [r.topic for r in batch.select("topic").distinct().collect()]
        for name in present:
            logical = actual[name]
            decoded = ctx.codec.decode(batch.where(F.col("topic") == name), logical).persist()
            kinds = {r["ok"]: r["n"] for r in decoded.groupBy(F.col("error_type").isNull().alias("ok")).agg(
                F.count(F.lit(1)).alias("n")).collect()}
            if kinds.get(True):
                write_lake(ctx, decoded, logical)
            if kinds.get(False):
                dl = dead_letters(decoded.where("error_type IS NOT NULL"), logical, ctx)
                dl.write.format("kafka").options(**sink_options(ctx.settings)).option(
                    "topic", ctx.topic(DEAD_LETTER)).save()
            decoded.unpersist()
    finally:
        batch.unpersist()


def write_lake(ctx: JobContext, decoded: Any, logical: str) -> None:
    good = decoded.where("error_type IS NULL").select(
        "rec.*", F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_ts"),
        F.date_format("timestamp", "yyyy-MM-dd").alias("date"), F.date_format("timestamp", "HH").alias("hour"))
    good.write.mode("append").partitionBy("date", "hour").parquet(f"{ctx.cfg.lake()}/topic={logical}")


def start(ctx: JobContext) -> list[Any]:
    raw = ctx.raw(*SOURCE_TOPICS)
    query = ctx.writer(raw, QUERY, mode="append").foreachBatch(lambda df, i: write_batch(ctx, df, i)).start()
    return [query]
