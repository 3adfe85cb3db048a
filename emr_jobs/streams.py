"""What every query shares: the Kafka source and sink options (plaintext locally, MSK IAM on EMR), the
decoded source stream, and starting a query with its checkpoint under one root and its own FAIR pool.

    >>> ctx = JobContext.create(spark)
    >>> rows = ctx.decoded({"topic_app_events": ("event_id", "event_ts")})   # one read, rec.* + kafka_ts
    >>> ctx.to_kafka(out_df, "app_events", "topic_processed_events")
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from emr_jobs.config import SparkSettings, get_spark_settings
from emr_jobs.errors import JobError
from emr_jobs.jobs import Job, output_topics, source_topics
from emr_jobs.wire import WireCodec
from eventbus.catalog import load_catalog
from eventbus.settings import Settings, get_settings

#: Checkpoint folder of a query whose state layout changed incompatibly (a new folder = a fresh start
#: from ``EB_SPARK_STARTING_OFFSETS``; the old one is left in place for inspection).
CHECKPOINT_NAMES = {"user_state": "user_state-v3", "lake": "lake-v2"}


def kafka_options(settings: Settings) -> dict[str, str]:
    """Connection options of Spark's Kafka source and sink (``kafka.``-prefixed client configs)."""
    opts = {"kafka.bootstrap.servers": settings.kafka_bootstrap}
    if settings.kafka_auth == "iam":  # MSK IAM through aws-msk-iam-auth (jar in the bundle)
        opts.update(
            {
                "kafka.security.protocol": "SASL_SSL",
                "kafka.sasl.mechanism": "AWS_MSK_IAM",
                "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
                "kafka.sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
            }
        )
    return opts


def source_options(settings: Settings, cfg: SparkSettings) -> dict[str, str]:
    """Options of Spark's Kafka source: the connection plus a short ``fetch.max.wait.ms``
    (``EB_SPARK_KAFKA_FETCH_MAX_WAIT_MS``; why: its field in emr_jobs/config.py)."""
    return {**kafka_options(settings), "kafka.fetch.max.wait.ms": str(cfg.kafka_fetch_max_wait_ms)}


def sink_options(settings: Settings) -> dict[str, str]:
    """The delivery contract for Spark's own Kafka producer: acks=all, idempotent, bounded delivery time.

    A task whose records are not all acknowledged fails, the micro-batch fails and is re-run from the
    checkpoint: at-least-once, and since every output is keyed a replay rewrites the same keys.
    """
    return {
        **kafka_options(settings),
        "kafka.acks": "all",
        "kafka.enable.idempotence": "true",
        "kafka.max.in.flight.requests.per.connection": "5",
        "kafka.compression.type": settings.kafka_compression,
        "kafka.linger.ms": str(settings.kafka_linger_ms),
        "kafka.delivery.timeout.ms": str(settings.kafka_delivery_timeout_ms),
    }


@dataclass
class JobContext:
    spark: Any
    settings: Settings
    cfg: SparkSettings
    codec: WireCodec
    #: availableNow (process what is there, then stop) instead of a processing-time trigger.
    once: bool = False
    #: The job this context starts queries for (``for_job``): its declared reads/writes are enforced.
    job: Job | None = None

    @classmethod
    def create(cls, spark: Any, settings: Settings | None = None, cfg: SparkSettings | None = None,
               once: bool = False) -> JobContext:
        settings = settings or get_settings()
        cfg = cfg or get_spark_settings()
        codec = WireCodec.for_topics(settings, [*source_topics(settings), *output_topics(settings)])
        return cls(spark, settings, cfg, codec, once)

    def for_job(self, job: Job) -> JobContext:
        """This context for ``job``'s start function: reading or writing a topic it did not declare
        (``@job(reads=..., writes=...)``) fails as the query is built."""
        return dataclasses.replace(self, job=job)

    def topic(self, logical: str) -> str:
        load_catalog(self.settings).get(logical)  # an unknown name fails here, with the catalog's list
        return self.cfg.topic(logical)

    def source(self, logical: str) -> str:
        """The actual name of a topic the current job reads (declared in its ``@job(reads=...)``)."""
        return self._declared(logical, "reads")

    def sink(self, logical: str) -> str:
        """The actual name of a topic the current job writes (declared in its ``@job(writes=...)``)."""
        return self._declared(logical, "writes")

    def _declared(self, logical: str, what: str) -> str:
        if self.job is not None and logical not in getattr(self.job, what):
            raise JobError(f"job {self.job.name} {what} {logical} but does not declare it in its @job({what}=...) "
                           f"({self.job.module})")
        return self.topic(logical)

    def tables(self, logical: str, *names: str) -> tuple[str, ...]:
        """``names`` (as Debezium's ``source.table`` has them), each checked against the catalog's
        ``publication.tables`` of CDC topic ``logical``: a table the relay does not publish would
        silently yield no changes."""
        pub = load_catalog(self.settings).get(logical).publication
        published = {t.split(".", 1)[1] for t in (pub.tables if pub else ())}
        missing = [n for n in names if n not in published]
        if missing:
            raise JobError(f"table(s) {', '.join(missing)} not in {logical}'s publication "
                           f"({', '.join(sorted(published)) or 'none'}; schemas/topics.yaml publication.tables)")
        return names

    def raw(self, *logical: str) -> Any:
        """The Kafka source stream of one or more catalog topics (key, value, topic, partition, offset…)."""
        reader = self.spark.readStream.format("kafka").options(**source_options(self.settings, self.cfg))
        reader = reader.option("subscribe", ",".join(self.source(t) for t in logical))
        reader = reader.option("startingOffsets", self.cfg.starting_offsets)
        reader = reader.option("failOnDataLoss", str(self.cfg.fail_on_data_loss).lower())
        if self.cfg.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", str(self.cfg.max_offsets_per_trigger))
        return reader.load()

    def decoded(self, topics: dict[str, tuple[str, ...] | None]) -> Any:
        """One Kafka read of ``topics`` and one decode per record: ``{logical: fields}`` → a frame with
        ``topic`` (the logical name), ``kafka_ts``, ``partition``, ``offset`` and per topic a struct
        column named after it (``topic_app_events`` …) holding its projected record, null on the other
        topics' rows. Undecodable records are left out (the lake query dead-letters them)."""
        from pyspark.sql import functions as F

        raw = self.raw(*topics)
        if len(topics) == 1:
            (logical, fields), = topics.items()
            out = self.codec.records(raw, logical, fields)
            return out.select(F.lit(logical).alias("topic"), F.col("timestamp").alias("kafka_ts"), "partition",
                              "offset", F.col("rec").alias(logical))
        parts = [(lg, self.codec.branch(lg, fields, F.col("topic") == self.source(lg)))
                 for lg, fields in topics.items()]
        logical_of = F.when(F.lit(False), F.lit(None))
        for lg in topics:
            logical_of = logical_of.when(F.col("topic") == self.source(lg), F.lit(lg))
        d = raw.select(logical_of.alias("topic"), F.col("timestamp").alias("kafka_ts"), "partition", "offset",
                       F.explode(F.array(F.struct(*[rec.alias(lg) for lg, (rec, _) in parts]))).alias("d"))
        ok = None
        for lg, (_, keep) in parts:
            cond = F.col("topic") == lg
            cond = cond & keep(F.col(f"d.{lg}"))
            ok = cond if ok is None else ok | cond
        return d.where(ok).select("topic", "kafka_ts", "partition", "offset", *[F.col(f"d.{lg}").alias(lg)
                                                                               for lg in topics])

    def checkpoint(self, query: str) -> str:
        return f"{self.cfg.checkpoints()}/{CHECKPOINT_NAMES.get(query, query)}"

    def writer(self, df: Any, query: str, mode: str = "update") -> Any:
        w = df.writeStream.queryName(query).outputMode(mode).option("checkpointLocation", self.checkpoint(query))
        if self.once:
            return w.trigger(availableNow=True)
        return w.trigger(processingTime=f"{self.cfg.trigger_seconds} seconds")

    def start(self, writer: Any, query: str) -> Any:
        """Start ``writer`` in FAIR pool ``query`` (the pool is a local property the query's jobs inherit)."""
        sc = self.spark.sparkContext
        sc.setLocalProperty("spark.scheduler.pool", query)
        try:
            return writer.start()
        finally:
            sc.setLocalProperty("spark.scheduler.pool", None)

    def to_kafka(self, df: Any, query: str, logical_topic: str, mode: str = "update") -> Any:
        """Start ``query`` writing ``df`` (columns key, value) to a catalog topic."""
        w = self.writer(df.select("key", "value"), query, mode).format("kafka")
        return self.start(w.options(**sink_options(self.settings)).option("topic", self.sink(logical_topic)), query)
