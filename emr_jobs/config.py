"""The Spark jobs' own settings (``EB_SPARK_*``, plus ``EB_EMR_*`` for the submit command).

Connection settings (profile, Kafka bootstrap and auth, registry, buckets, AWS region) come from the
shared ``eventbus.settings``; only the knobs of the streaming layer live here::

    >>> from emr_jobs.config import SparkSettings
    >>> SparkSettings(master="local[2]").window_minutes
    5
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from eventbus.durations import duration_ms
from eventbus.paths import local_state_dir
from eventbus.settings import ComponentSettings, get_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
JARS_DIR = Path(__file__).resolve().parent / "jars" / "target" / "jars"
#: The micro-batch interval on the aws profile when EB_SPARK_TRIGGER_SECONDS is not set (see trigger_seconds).
AWS_TRIGGER_SECONDS = 30.0
#: Records per second of trigger interval that ``max_offsets_per_trigger`` allows by default.
CAP_EVENTS_PER_S = 200_000


class SparkSettings(ComponentSettings):
    """Knobs of the streaming layer; defaults are the local stack's."""

    model_config = SettingsConfigDict(env_prefix="EB_SPARK_", populate_by_name=True)

    #: ``local[2]`` on the local profile. On the aws profile (EMR Serverless, where the service sets the
    #: master) the default is no master, so a job run never takes the local branch (``_aws_defaults``).
    master: str | None = "local[2]"
    driver_memory: str = "1g"
    #: Shuffle partitions = state-store partitions. Fixed by the first checkpoint of a query.
    shuffle_partitions: int = Field(default=2, ge=1)
    ui_port: int = Field(default=4040, ge=0, le=65535)
    #: Where checkpoints live: a local folder or ``s3://bucket/prefix`` (EMR). Default: state folder.
    checkpoint_root: str | None = None
    #: Where the lake's Parquet goes: a local folder or ``s3://bucket/prefix``. Default: state folder.
    lake_root: str | None = None
    #: Where each query's latest progress JSON is written (the console reads it).
    progress_dir: Path | None = None
    #: Folder of the connector jars (emr_jobs/jars/target/jars, filled by `make spark-jars`).
    jars_dir: Path = JARS_DIR
    #: Micro-batch interval of the long-running queries: 10 s on the local profile (the console's windows
    #: move every 10 s), 30 s on the aws profile unless set. Every micro-batch's de-duplication eviction
    #: scans the whole store (Spark 3.5), so a longer interval spreads that scan over more events: at
    #: 20k events/s on local[2] a full state took 12.6 s per 10-s batch (falls behind) and 20.6 s per
    #: 30-s batch (keeps up); `make bench-spark-rate`, emr_jobs/README.md "Live".
    trigger_seconds: float = Field(default=10.0, ge=0)
    #: Upper bound of records per query per micro-batch (0 = unbounded). Unless set: ``CAP_EVENTS_PER_S``
    #: (200k) x the trigger interval (at least 10 s), i.e. 2M per 10-s batch and 6M per 30-s batch, a cap
    #: of 100k events/s live with 2x headroom to catch up a backlog (a fixed 200k capped it at 20k/s).
    #: What the job sustains below that cap is `make bench-spark-rate`'s figure, not this one.
    max_offsets_per_trigger: int = Field(default=2_000_000, ge=0)
    #: Each RocksDB state store instance (one per stateful operator and shuffle partition) has a block
    #: cache of this many MB and at most two memtables of ``rocksdb_write_buffer_mb``: its memory is sized,
    #: not shared. Spark 3.5's shared bound (boundedMemoryUsage) is a strict LRU cache that fails the task
    #: ("Insert failed due to LRU cache being full") once the state outgrows it (emr_jobs/README.md).
    rocksdb_block_cache_mb: int = Field(default=8, ge=1)
    rocksdb_write_buffer_mb: int = Field(default=16, ge=1)
    #: How long the broker may hold a fetch of Spark's Kafka consumer open waiting for new data (the
    #: client's ``fetch.max.wait.ms``, default 500). Spark reads bounded offset ranges and asks for the
    #: partition's offset range after every poll; that request queues behind the fetch the consumer has
    #: already sent at the end of the range (one request in flight per connection), so every task of a
    #: micro-batch waited up to 500 ms at its end (emr_jobs/README.md, "Kafka reads").
    kafka_fetch_max_wait_ms: int = Field(default=10, ge=0, le=500)
    starting_offsets: str = "earliest"
    #: Fail when Kafka offsets vanished (retention) instead of skipping them: loss is loud.
    fail_on_data_loss: bool = True
    window_minutes: int = Field(default=5, ge=1)
    click_window_minutes: int = Field(default=10, ge=1)
    click_slide_minutes: int = Field(default=5, ge=1)
    #: Watermark = the max effective event time seen minus this. A row whose window ends at or before
    #: the watermark (state queries: whose time is at or before it) is dropped and counted.
    watermark: str = "10 minutes"
    #: Heat-map grid: the viewport is cut into this many cells per axis.
    heatmap_grid: int = Field(default=10, ge=2, le=100)
    #: Keyed state (booking/user, incl. tombstones) is dropped once the watermark passes its latest
    #: change + this (event time: a processing-time timeout would keep availableNow runs from ending).
    state_timeout: str = "30 days"
    #: Comma-separated topic name overrides, ``logical=actual`` (tests: scratch topics).
    topic_overrides: str = ""

    # --- EMR Serverless (python -m emr_jobs.submit) ----------------------------------------------
    emr_application_id: str | None = Field(
        default=None, validation_alias=AliasChoices("EB_EMR_APPLICATION_ID", "EB_SPARK_EMR_APPLICATION_ID")
    )
    emr_execution_role_arn: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EB_EMR_EXECUTION_ROLE_ARN", "EB_SPARK_EMR_EXECUTION_ROLE_ARN"),
    )
    #: s3://bucket/prefix where `make package` output (emr/) was uploaded.
    emr_code_uri: str | None = None
    emr_log_uri: str | None = None
    #: CloudWatch log group of the job runs (Terraform output emr_log_group_name); unset = no CloudWatch logs.
    emr_log_group: str | None = None

    @field_validator("watermark", "state_timeout")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        duration_ms(value)  # '<number> <unit>' or a ValueError naming what is expected
        return value

    @model_validator(mode="after")
    def _aws_defaults(self) -> SparkSettings:
        explicit = set(self.model_fields_set)
        if get_settings().profile == "aws":
            if "master" not in explicit:
                self.master = None
            if "trigger_seconds" not in explicit:
                self.trigger_seconds = AWS_TRIGGER_SECONDS
        if "max_offsets_per_trigger" not in explicit:
            self.max_offsets_per_trigger = int(CAP_EVENTS_PER_S * max(self.trigger_seconds, 10.0))
        # derived defaults are not settings anyone set (emr_jobs.submit passes on only those)
        self.__pydantic_fields_set__.intersection_update(explicit)
        return self

    def topic(self, logical: str) -> str:
        """The actual topic name for a catalog topic (``topic_overrides`` lets tests use scratch topics)."""
        for pair in filter(None, (p.strip() for p in self.topic_overrides.split(","))):
            name, _, actual = pair.partition("=")
            if name.strip() == logical:
                return actual.strip()
        return logical

    def checkpoints(self) -> str:
        return (self.checkpoint_root or str(local_state_dir() / "spark" / "checkpoints")).rstrip("/")

    def lake(self) -> str:
        return (self.lake_root or str(local_state_dir() / "spark" / "lake")).rstrip("/")

    def progress(self) -> Path:
        return self.progress_dir or local_state_dir() / "spark" / "progress"


@lru_cache(maxsize=1)
def get_spark_settings() -> SparkSettings:
    return SparkSettings()
