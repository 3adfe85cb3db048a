"""`make bench-spark`: events/s of the Spark jobs on a pre-loaded backlog, beside Spark's own raw Kafka read
rate measured in the same run and the same session (read + count, no decode), and the driver's memory.

    python -m bench.spark --events 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_results
from bench.spark_data import app_events
from bench.spark_kit import ScratchTopics, produce
from emr_jobs.config import SparkSettings
from emr_jobs.session import build_session
from emr_jobs.streams import OUTPUT_TOPICS, JobContext, kafka_options
from eventbus.serde import AvroSerde
from eventbus.settings import Settings


def preload(settings: Settings, topic: str, n: int) -> float:
    """Produce ``n`` app events (one day of event time) through the shared serde + producer; seconds."""
    serde = AvroSerde(settings)
    t0 = time.monotonic()
    chunk = 100_000
    for i in range(0, n, chunk):
        batch = app_events(min(chunk, n - i), seed=i, span_s=86_400, users=5000)
        produce(settings, topic, "topic_app_events", batch, "user_id", serde)
        print(f"  preloaded {min(i + chunk, n):,}/{n:,} ({(i + chunk) / (time.monotonic() - t0):,.0f}/s)",
              file=sys.stderr)
    return time.monotonic() - t0


def timed(fn: Any) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def raw_read(spark: Any, settings: Settings, topic: str) -> int:
    df = spark.read.format("kafka").options(**kafka_options(settings)).option("subscribe", topic).load()
    return int(df.selectExpr("count(*) AS n", "sum(length(value)) AS b").collect()[0]["n"])


def decode_only(spark: Any, ctx: JobContext, topic: str) -> int:
    df = spark.read.format("kafka").options(**kafka_options(ctx.settings)).option("subscribe", topic).load()
    decoded = ctx.codec.decode(df, "topic_app_events")
    return int(decoded.where("error_type IS NULL").selectExpr("count(rec.event_type) AS n").collect()[0]["n"])


def run_query(ctx: JobContext, start: Any) -> None:
    for q in start(ctx):
        q.awaitTermination()
        if q.exception() is not None:
            raise RuntimeError(f"{q.name}: {q.exception()}")


def jvm_memory(spark: Any) -> dict[str, float]:
    jvm = spark.sparkContext._jvm
    rt = jvm.java.lang.Runtime.getRuntime()
    pid = int(jvm.java.lang.ProcessHandle.current().pid())
    status = Path(f"/proc/{pid}/status").read_text()
    peak_rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return {"driver_heap_used_mb": round((rt.totalMemory() - rt.freeMemory()) / 2**20, 1),
            "driver_heap_max_mb": round(rt.maxMemory() / 2**20, 1), "driver_peak_rss_mb": round(peak_rss / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="app events in the backlog (default 1M)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the scratch topic (default 6)")
    args = parser.parse_args(argv)
    from emr_jobs import app_events as job

    settings = Settings()
    root = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    rows: list[dict[str, Any]] = []
    with ScratchTopics(settings, ["topic_app_events", *OUTPUT_TOPICS], partitions=args.partitions,
                       prefix="t_spark_bench") as topics:
        source = topics.actual("topic_app_events")
        load_s = preload(settings, source, args.events)
        cfg = SparkSettings(topic_overrides=topics.overrides, checkpoint_root=str(root / "ckpt"),
                            progress_dir=root / "progress", max_offsets_per_trigger=0, ui_port=0)
        spark = build_session("bench-spark", cfg)
        ctx = JobContext.create(spark, settings, cfg, once=True)
        n = args.events
        raw_read(spark, settings, source)  # warm-up: JVM, connector, codegen
        raw_s = timed(lambda: raw_read(spark, settings, source))
        dec_s = timed(lambda: decode_only(spark, ctx, source))
        windows_s = timed(lambda: run_query(ctx, lambda c: [c.to_kafka(
            job.processed_events(job.window_counts(job.events(c), c.cfg.window_minutes), "app_events", c.codec),
            "app_events_windows", "topic_processed_events")]))
        both_s = timed(lambda: run_query(JobContext.create(spark, settings, SparkSettings(
            **{**cfg.model_dump(), "checkpoint_root": str(root / "ckpt2")}), once=True), job.start))
        raw_rate = n / raw_s
        for name, secs in (("spark raw Kafka read + count (baseline)", raw_s), ("decode only (from_avro)", dec_s),
                           ("app_events_windows query", windows_s),
                           ("app_events job (windows + funnel)", both_s)):
            rows.append({"what": name, "events": n, "seconds": round(secs, 2), "events_per_s": round(n / secs),
                         "vs_raw": round((n / secs) / raw_rate, 3)})
        memory = jvm_memory(spark)
        spark.stop()
    target = {"app_events_min_events_per_s": 100_000, "min_vs_raw": 0.5}
    write_results("spark", rows, {"preload_s": round(load_s, 1), "memory": memory, "target": target,
                                  "master": cfg.master, "loadavg_1m_at_end": os.getloadavg()[0]})
    print(f"driver memory: {memory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
