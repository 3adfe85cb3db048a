"""Every topic the catalog lists ``spark`` as a reader of → Parquet in the lake, each record once within
``EB_SPARK_WATERMARK``, and every record that does not decode → ``topic_dead_letter`` (query ``lake``).

Layout: ``<lake root>/topic=<topic>/date=YYYY-MM-DD/hour=HH/*.parquet`` (date/hour of the Kafka record
timestamp, UTC), the record's fields plus ``kafka_partition``, ``kafka_offset``, ``kafka_ts``. The lake
root is ``EB_SPARK_LAKE_ROOT`` (default: the state folder's ``spark/lake`` locally,
``s3://<lake bucket>/processed`` on EMR: ``emr_jobs.submit.LAKE_ZONE``).

De-duplication (``first_copies``): a topic with a catalog ``dedup_key`` (event_id, click_id, record_id)
is archived once per key value *within the watermark delay of the first copy's arrival at the lake*
(``dropDuplicatesWithinWatermark`` on the micro-batch's processing time, so state is bounded and no
record is ever dropped as late). A copy arriving later than that — a DAG rerun or a replay more than
``EB_SPARK_WATERMARK`` after the first — is archived again: readers apply the topic's read rule on top
(external data: one record per ``record_id``, latest ``fetched_ts``; mwaa_dags/README.md, "Idempotent per
interval, end to end").
Topics without a ``dedup_key`` (CDC, app logs) and undecodable records are keyed by their Kafka position,
so nothing of theirs is dropped.

Guarantee: at-least-once. A micro-batch that fails is re-run from the checkpoint and may append its
rows again; (topic, kafka_partition, kafka_offset) is unique per source record, so readers dedupe on it.
Dead letters carry the original key/value/partition/offset and the reason, keyed by the original topic.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from emr_jobs.jobs import ALL_READS, job, source_topics
from emr_jobs.streams import JobContext, sink_options

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
    """foreachBatch: per topic, decodable rows to Parquet, the rest to the dead-letter topic.

    One decode per record: the Parquet write counts the undecodable rows as it passes them (an
    ``Observation``), and only a topic that had some is decoded again to dead-letter them (rare). Caching
    the decoded rows instead cost more than the decode (the lake ran at 54k events/s with it, 107k
    without it and with ``maxConcurrentOutputFileWriters``: the lake alone on the 1M-event backlog of
    `make bench-spark`, ad-hoc run, 2026-12-06)."""
    from pyspark.sql import Observation

    batch = batch.persist()
    try:
        actual = {ctx.source(t): t for t in archived(ctx)}
        present = [r.topic for r in batch.select("topic").distinct().collect()]
        for name in present:
            logical = actual[name]
            decoded = ctx.codec.decode(batch.where(F.col("topic") == name), logical)
            seen = Observation()
            write_lake(ctx, decoded.observe(seen, F.count(F.col("error_type")).alias("bad")), logical)
            if seen.get["bad"]:
                dl = dead_letters(decoded.where("error_type IS NOT NULL"), logical, ctx)
                dl.write.format("kafka").options(**sink_options(ctx.settings)).option(
                    "topic", ctx.sink(DEAD_LETTER)).save()
    finally:
        batch.unpersist()


def write_lake(ctx: JobContext, decoded: Any, logical: str) -> None:
    good = decoded.where("error_type IS NULL").select(
        "rec.*", F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_ts"),
        F.date_format("timestamp", "yyyy-MM-dd").alias("date"), F.date_format("timestamp", "HH").alias("hour"))
    good.write.mode("append").partitionBy("date", "hour").parquet(f"{ctx.cfg.lake()}/topic={logical}")


def archived(ctx: JobContext) -> tuple[str, ...]:
    """The topics the lake archives: its ``@job`` reads (every topic the catalog lists spark as a reader of)."""
    return ctx.job.reads if ctx.job else source_topics(ctx.settings)


def dedup_id(ctx: JobContext, topics: tuple[str, ...]) -> Column:
    """Per row: the value of its topic's ``dedup_key`` (only that field is decoded), else — no key, or
    the record does not decode — its Kafka position, which no other record shares."""
    position = F.concat_ws(":", F.lit("kafka"), F.col("partition"), F.col("offset"))
    value: Any = None
    for logical in topics:
        key = ctx.codec.catalog.get(logical).dedup_key
        if key:
            on = F.col("topic") == ctx.source(logical)
            rec, _ = ctx.codec.branch(logical, (key,), on)
            value = F.when(on, rec[key]) if value is None else value.when(on, rec[key])
    return position if value is None else F.coalesce(value, position)


def first_copies(df: DataFrame, dedup_id: Column, delay: str) -> DataFrame:
    """The rows of ``df`` whose (``topic``, ``dedup_id``) did not arrive in the last ``delay`` of processing
    time. The watermark is on the micro-batch's time (``current_timestamp``), not the Kafka timestamp:
    a record arriving late (a backlog, another topic ahead) is never dropped as late, and the dedup
    state of a key is kept for ``delay`` after its first copy arrived (bounded state)."""
    marked = df.withColumn("dedup_id", dedup_id).withColumn("arrived", F.current_timestamp())
    return marked.withWatermark("arrived", delay).dropDuplicatesWithinWatermark(["topic", "dedup_id"]).drop(
        "dedup_id", "arrived")


@job(QUERY, queries=(QUERY,), reads=ALL_READS, writes=(DEAD_LETTER,))
def start(ctx: JobContext) -> list[Any]:
    topics = archived(ctx)
    raw = first_copies(ctx.raw(*topics), dedup_id(ctx, topics), ctx.cfg.watermark)
    query = ctx.writer(raw, QUERY, mode="append").foreachBatch(lambda df, i: write_batch(ctx, df, i)).start()
    return [query]
