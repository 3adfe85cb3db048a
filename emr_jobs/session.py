"""The SparkSession of the jobs: the connector jars from emr_jobs/jars, bounded memory, UI on 127.0.0.1,
and the progress listener the console reads.

    >>> from emr_jobs.session import build_session
    >>> spark = build_session(app_name="travel-streaming")
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from emr_jobs.config import REPO_ROOT, SparkSettings, get_spark_settings
from emr_jobs.errors import JobError

#: The jars the jobs need beside Spark's own (emr_jobs/jars/pom.xml).
REQUIRED_JARS = ("spark-sql-kafka-0-10", "spark-token-provider-kafka-0-10", "kafka-clients", "commons-pool2",
                 "spark-avro")


def connector_jars(cfg: SparkSettings) -> list[str]:
    """Paths of the connector jars; a one-line error naming the fix when they are not resolved yet."""
    jars = sorted(str(p) for p in Path(cfg.jars_dir).glob("*.jar"))
    names = [Path(j).name for j in jars]
    missing = [n for n in REQUIRED_JARS if not any(j.startswith((n + "-", n + "_")) for j in names)]
    if missing:
        raise JobError(f"connector jars missing in {cfg.jars_dir} ({', '.join(missing)}) — run `make spark-jars`")
    return jars


def pool_file(pools: Iterable[str], directory: Path | None = None) -> Path:
    """The FAIR scheduler's allocation file declaring ``pools`` (Spark's defaults: FIFO within a pool,
    weight 1, minShare 0). Without it Spark still creates each query's pool, but warns at every start that
    the pool "has not been configured". Named by its content, so a restart rewrites the same file."""
    body = "".join(f"  <pool name={quoteattr(p)}><schedulingMode>FIFO</schedulingMode><weight>1</weight>"
                   f"<minShare>0</minShare></pool>\n" for p in sorted(set(pools)))
    xml = f'<?xml version="1.0"?>\n<allocations>\n{body}</allocations>\n'
    directory = directory or Path(tempfile.gettempdir()) / "eb-spark"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"pools-{hashlib.sha256(xml.encode()).hexdigest()[:12]}.xml"
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(xml)
        os.replace(tmp, target)
    return target


def build_session(app_name: str = "travel-streaming", cfg: SparkSettings | None = None,
                  pools: Iterable[str] | None = None, **conf: Any) -> Any:
    """A SparkSession for the jobs (local ``cfg.master``, or the cluster's when ``master`` is unset).
    ``pools``: the FAIR pools its queries run in (``JobContext.start``); by default every registered
    job's queries."""
    from pyspark.sql import SparkSession

    from emr_jobs.jobs import registry

    cfg = cfg or get_spark_settings()
    if pools is None:
        pools = registry().queries()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # Python workers (pandas UDFs) import emr_jobs/eventbus from the checkout, wherever the driver started
    repo = str(REPO_ROOT)
    if repo not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    builder = SparkSession.builder.appName(app_name)
    if cfg.master:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # bind to loopback, and say so quietly
        builder = builder.master(cfg.master)
        settings: dict[str, Any] = {
            "spark.jars": ",".join(connector_jars(cfg)),
            "spark.driver.memory": cfg.driver_memory,
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.ui.enabled": str(cfg.ui_port > 0).lower(),
            "spark.ui.port": str(cfg.ui_port or 4040),
            # a second driver (tests, bench) takes the next port instead of failing
            "spark.port.maxRetries": "16",
            "spark.ui.showConsoleProgress": "false",
            "spark.local.dir": str(Path(tempfile.gettempdir()) / "eb-spark"),
        }
    else:  # EMR Serverless: jars come with --jars in the job run; the service sets master and memory
        settings = {}
    settings.update(
        {
            "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.streaming.stateStore.providerClass":
                "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
            "spark.sql.streaming.noDataMicroBatches.enabled": "true",
            # Memory sized per RocksDB instance: a block cache + at most two memtables each. Not Spark's shared
            # bound (boundedMemoryUsage): in 3.5 its LRU cache has a strict capacity limit (RocksDBMemoryManager:
            # new LRUCache(total, -1, true, ...)), and once the state outgrows it every get fails the task with
            # "Insert failed due to LRU cache being full" (apache/spark#42567). `make bench-spark-rate` hit it
            # at 2,000 events/s after four minutes of event time, with 256 MB.
            "spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage": "false",
            "spark.sql.streaming.stateStore.rocksdb.blockCacheSizeMB": str(cfg.rocksdb_block_cache_mb),
            "spark.sql.streaming.stateStore.rocksdb.writeBufferSizeMB": str(cfg.rocksdb_write_buffer_mb),
            "spark.sql.streaming.stateStore.rocksdb.maxWriteBufferNumber": "2",
            # a commit writes the batch's changes, not a new snapshot of the store (Spark 3.4+, compatible
            # with existing checkpoints): ~20% less time per batch of the de-duplicating app_events query here
            "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
            # Do not count the store's keys: with tracking on, every put and delete is preceded by a get
            # (RocksDB.put/remove in Spark 3.5): the de-duplication of 1M events took 4.2 -> 2.7 s of task time
            # in updates and 3.6 -> 1.3 s in removals without it. The cost: the state operators'
            # numRowsTotal reads 0; nothing here reads it (duplicates and late rows are separate metrics).
            "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
            # The windows' aggregation holds the funnel's session sets (collect_set: an object hash
            # aggregate), which falls back to sorting every row after 128 keys per task. A backlog spans
            # hundreds of windows x (event types + platforms + destinations + 1); keep up to 65,536 keys in
            # the hash map instead.
            "spark.sql.objectHashAggregate.sortBased.fallbackThreshold": "65536",
            # The lake's Parquet is partitioned by date/hour: with concurrent writers a task writes up to 32
            # partitions without sorting its rows first (it sorts only what is beyond). A backlog spans a
            # day; a live batch one or two hours. Parquet stage of the lake on 1M events: 10.0 -> 3.8 s.
            "spark.sql.maxConcurrentOutputFileWriters": "32",
            # Each query runs in its own FAIR pool (streams.JobContext.start): the lake and user state
            # cannot hold the windows' micro-batches up behind them on the driver's slots.
            "spark.scheduler.mode": "FAIR",
            "spark.scheduler.allocation.file": pool_file(pools).as_uri(),
        }
    )
    settings.update({k: str(v) for k, v in conf.items()})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def write_progress(directory: Path, name: str, progress_json: str) -> Path:
    """Write one query's latest progress atomically (tmp file + rename): ``<dir>/<name>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.json"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(progress_json)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the console may run as another user
    os.replace(tmp, target)
    return target


def event_time_counts(progress: dict[str, Any]) -> dict[str, int]:
    """Of one micro-batch's progress: rows clamped to the trusted time (observed metrics of
    ``emr_jobs.event_time.observe_event_time``), dropped behind the watermark and dropped as duplicates
    (the state operators' ``numRowsDroppedByWatermark`` / ``numDroppedDuplicateRows``)."""
    late = dup = 0
    for op in progress.get("stateOperators") or []:
        late += int(op.get("numRowsDroppedByWatermark") or 0)
        dup += int((op.get("customMetrics") or {}).get("numDroppedDuplicateRows") or 0)
    observed = progress.get("observedMetrics") or {}
    clamped = sum(int(m.get("clamped") or 0) for m in observed.values() if isinstance(m, dict))
    return {"clamped": clamped, "late_dropped": late, "duplicates_dropped": dup}


def register_progress_listener(spark: Any, directory: Path) -> Any:
    """Register a StreamingQueryListener writing each query's ``lastProgress`` JSON into ``directory``,
    with ``ebEventTime``: that batch's clamped / late / duplicate rows and their totals since the driver
    started (what the console shows)."""
    from pyspark.sql.streaming import StreamingQueryListener

    totals: dict[str, dict[str, int]] = {}

    class ProgressFiles(StreamingQueryListener):
        def onQueryStarted(self, event: Any) -> None:
            pass

        def onQueryProgress(self, event: Any) -> None:
            progress = event.progress
            name = progress.name or str(progress.id)
            doc = json.loads(progress.json)
            batch = event_time_counts(doc)
            total = totals.setdefault(name, dict.fromkeys(batch, 0))
            for k, v in batch.items():
                total[k] += v
            doc["ebEventTime"] = {"batch": batch, "since_start": dict(total)}
            write_progress(directory, name, json.dumps(doc))

        def onQueryIdle(self, event: Any) -> None:
            pass

        def onQueryTerminated(self, event: Any) -> None:
            pass

    listener = ProgressFiles()
    spark.streams.addListener(listener)
    return listener


def read_progress(directory: Path, name: str) -> dict[str, Any] | None:
    """The latest progress of query ``name`` (what the console reads), or None."""
    try:
        return json.loads((directory / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
