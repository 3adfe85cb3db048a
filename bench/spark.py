"""`make bench-spark`: events/s of the Spark jobs on a pre-loaded backlog, beside Spark's own raw Kafka read
rate measured in the same run and the same session (read + count, no decode), with the CPU seconds the
whole driver (JVM + Python workers + this process) spent per 1,000 events, and its memory.

    python -m bench.spark --events 1000000

Rows: the raw read (baseline: with the jobs' own Kafka source options), the raw read with the Kafka client's
default ``fetch.max.wait.ms`` (context: the read before EB_SPARK_KAFKA_FETCH_MAX_WAIT_MS), decode only (projected
to the app_events job's 7 fields, and all 19), the job's stateless input (read, decode, clamp, window rows into a
no-op sink) alone and with the exchange by the de-duplication's key that Spark puts before any de-duplication (no
state: what every exact, per-event de-duplication in Spark pays before its state store does anything), the job's
exact-once floor (its read, decode, clamp and de-duplication into a no-op sink: what counting each event once costs
before any aggregation), the app_events job (its one query: clamp, de-duplication, windows + funnel, Kafka sink),
the same query with its de-duplication left out (the ceiling any way of counting each event once leaves the job),
the user_state job alone (its fold's cost is per user and micro-batch: ``--users 50000`` with ``--events 100000``
is live traffic's shape, 2 events per user), with ``--bookings N`` the booking_state job alone on a CDC backlog of
N bookings' changes (its own count: changes/s, not compared with the app-event read; the full driver then also
folds those changes) and the full driver of `make spark` (every job: app_events, clickstream, booking_state,
user_state, lake) on the same backlog. Every row runs warm: after ``--warm-ups`` raw reads, decodes and runs of the
job, each on a checkpoint of its own (a live driver runs for days; its first minutes of JIT compilation are not its
rate: in one ad-hoc run the JVM's compiler threads spent 5.2, 3.7 and 3.4 CPU-s in the job's first three runs, at
78.7k, 90.0k and 102.0k events/s; in another, 1.5-1.8 CPU-s per run from the fourth run on, at 109k-118k). The rows
are then measured ``--repeat`` times, round-robin (so a slow minute of the machine hits every row), and each figure
is the median run, with the slowest and fastest run beside it and the CPU seconds the compiler threads spent
(``jit_cpu_s``: how warm the row ran). The full driver runs once after a warm-up run of its own.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import scratch_dir, write_results
from emr_jobs.config import SparkSettings
from emr_jobs.jobs import output_topics, registry, source_topics
from emr_jobs.session import build_session
from emr_jobs.streams import JobContext, kafka_options, source_options
from emr_jobs.supervisor import Supervisor
from eventbus.cli import exit_with
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from tests.support.spark_data import app_events, oltp_load
from tests.support.spark_kit import ScratchTopics, produce, produce_raw

TICKS = os.sysconf("SC_CLK_TCK")


def preload(settings: Settings, topic: str, n: int, users: int = 5000) -> float:
    """Produce ``n`` app events of ``users`` users (one day of event time) through the shared serde +
    producer; seconds."""
    serde = AvroSerde(settings)
    t0 = time.monotonic()
    chunk = 100_000
    for i in range(0, n, chunk):
        batch = app_events(min(chunk, n - i), seed=i, span_s=86_400, users=users)
        produce(settings, topic, "topic_app_events", batch, "user_id", serde)
        print(f"  preloaded {min(i + chunk, n):,}/{n:,} ({(i + chunk) / (time.monotonic() - t0):,.0f}/s)",
              file=sys.stderr)
    return time.monotonic() - t0


def preload_cdc(settings: Settings, topic: str, bookings: int) -> int:
    """Produce the Debezium changes of ``bookings`` bookings (created, paid, confirmed or cancelled, some
    deleted; ``tests.support.spark_data.oltp_load``) with their table:key keys; the number of changes."""
    serde = AvroSerde(settings)
    changes = oltp_load(bookings, users=max(bookings // 15, 1)).changes
    produce_raw(settings, topic, [(k.encode(), serde.encode("topic_cdc_changes", c)) for k, c in changes])
    print(f"  preloaded {len(changes):,} CDC changes of {bookings:,} bookings", file=sys.stderr)
    return len(changes)


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of ``root`` and every live descendant (the JVM's Python workers), plus
    what their exited children were charged."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17) (1-based in proc(5))
        stats[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / TICKS)
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, (pp, _) in stats.items() if pp == parent and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    return sum(stats[p][1] for p in tree if p in stats)


def jit_cpu_s(pid: int) -> float:
    """CPU seconds of the JVM's JIT compiler threads (``C1/C2 CompilerThre…``) so far."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            raw = (task / "stat").read_text()
        except OSError:
            continue
        if raw[raw.index("(") + 1:].startswith(("C1 CompilerThre", "C2 CompilerThre")):
            fields = raw.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def measured(fn: Any, jvm_pid: int | None = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process tree — JVM and Python workers included, CPU seconds of the
    JVM's JIT compiler threads) of ``fn()``."""
    me = os.getpid()
    j0 = jit_cpu_s(jvm_pid) if jvm_pid else 0.0
    c0, t0 = tree_cpu_s(me), time.monotonic()
    fn()
    wall, cpu = time.monotonic() - t0, tree_cpu_s(me) - c0
    return wall, cpu, (jit_cpu_s(jvm_pid) - j0) if jvm_pid else 0.0


def raw_read(spark: Any, options: dict[str, str], topic: str) -> int:
    df = spark.read.format("kafka").options(**options).option("subscribe", topic).load()
    return int(df.selectExpr("count(*) AS n", "sum(length(value)) AS b").collect()[0]["n"])


def decode_only(spark: Any, ctx: JobContext, topic: str, fields: tuple[str, ...] | None) -> int:
    df = spark.read.format("kafka").options(**source_options(ctx.settings, ctx.cfg)).option("subscribe", topic).load()
    rows = ctx.codec.records(df, "topic_app_events", fields)
    return int(rows.selectExpr("count(rec.event_type) AS n").collect()[0]["n"])


def dedup_only(ctx: JobContext, window_minutes: int) -> None:
    """The app_events job's source, clamp, watermark and de-duplication into Spark's no-op sink."""
    from emr_jobs import app_events as job

    key = str(ctx.codec.catalog.get(job.SOURCE).dedup_key)
    rows = job.window_rows(job.events(ctx), window_minutes, key)
    ctx.start(ctx.writer(rows, "bench_dedup_only", "append").format("noop"), "bench_dedup_only").awaitTermination()


def stateless(ctx: JobContext, window_minutes: int, shuffle: bool) -> None:
    """The de-duplication's input with no state: the app_events job's source, clamp, watermark and window
    rows into the no-op sink; with ``shuffle``, also repartitioned by the de-duplication's key, the exchange
    Spark puts before any de-duplication (equal keys must meet in one task). What any exact, per-event
    de-duplication in Spark costs before its state store does anything."""
    from pyspark.sql import functions as F

    from emr_jobs import app_events as job

    key = str(ctx.codec.catalog.get(job.SOURCE).dedup_key)
    rows = job.events(ctx).select(key, *job.DIMENSIONS, "session_id",
                                  F.window("ts", f"{window_minutes} minutes").alias("window"))
    if shuffle:
        rows = rows.repartition(int(ctx.cfg.shuffle_partitions), key, "window")
    name = "bench_shuffle" if shuffle else "bench_stateless"
    ctx.start(ctx.writer(rows, name, "append").format("noop"), name).awaitTermination()


def job_without_dedup(ctx: JobContext, window_minutes: int) -> None:
    """The app_events job's one query with its de-duplication left out (each window row taken as read):
    the ceiling that any way of counting each event once leaves the job, whatever that way costs."""
    from pyspark.sql import functions as F

    from emr_jobs import app_events as job
    from emr_jobs.transforms import processed_events

    rows = job.events(ctx).select(str(ctx.codec.catalog.get(job.SOURCE).dedup_key), *job.DIMENSIONS, "session_id",
                                  F.window("ts", f"{window_minutes} minutes").alias("window"))
    out = processed_events(job.window_counts(rows), F.col("job"), ctx.codec, metrics=F.col("metrics"))
    ctx.to_kafka(out, "bench_no_dedup", job.SINK).awaitTermination()


def run_jobs(ctx: JobContext, jobs: list[str]) -> None:
    sup = Supervisor(ctx, jobs)
    sup.start()
    try:
        sup.wait(3600)
    finally:
        sup.stop()


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
    parser.add_argument("--users", type=int, default=5000,
                        help="distinct users in the backlog (default 5,000; user state pays per user and micro-batch)")
    parser.add_argument("--bookings", type=int, default=0,
                        help="also a CDC backlog of this many bookings' changes, and a booking_state row (default 0)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the scratch topic (default 6)")
    parser.add_argument("--master", default="local[2]", help="Spark master of the benchmark driver (local[2])")
    parser.add_argument("--skip-full", action="store_true", help="leave out the full-driver row")
    parser.add_argument("--warm-ups", type=int, default=3, help="warm-up runs of every row before measuring (3)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per row, median reported (3)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warm_ups < 0:
        parser.error("--repeat must be at least 1 and --warm-ups at least 0")
    from emr_jobs import app_events as job

    settings = Settings()
    root = scratch_dir("bench-spark-")
    rows: list[dict[str, Any]] = []
    with ScratchTopics(settings, [*source_topics(settings), *output_topics(settings)], partitions=args.partitions,
                       prefix="t_spark_bench") as topics:
        source = topics.actual("topic_app_events")
        load_s = preload(settings, source, args.events, args.users)
        changes = preload_cdc(settings, topics.actual("topic_cdc_changes"), args.bookings) if args.bookings else 0

        def cfg_for(name: str) -> SparkSettings:
            return SparkSettings(master=args.master, topic_overrides=topics.overrides,
                                 checkpoint_root=str(root / name), lake_root=str(root / f"lake-{name}"),
                                 progress_dir=root / "progress", max_offsets_per_trigger=0, ui_port=0)

        cfg = cfg_for("ckpt")
        spark = build_session("bench-spark", cfg, pools=(*registry(settings).queries(), "bench_dedup_only",
                                                          "bench_no_dedup", "bench_stateless", "bench_shuffle"))
        jvm_pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        ctx = JobContext.create(spark, settings, cfg, once=True)
        runs = itertools.count()

        def fresh(name: str) -> JobContext:  # a streaming row's run: a checkpoint of its own
            return JobContext.create(spark, settings, cfg_for(f"{name}-{next(runs)}"), once=True)

        n = args.events
        options = source_options(settings, cfg)  # what the jobs' Kafka source uses
        rows_fn: dict[str, Any] = {
            "spark raw Kafka read + count (baseline)": lambda: raw_read(spark, options, source),
            "raw read, client default fetch.max.wait.ms (500)": lambda: raw_read(spark, kafka_options(settings),
                                                                                source),
            f"decode only, projected ({len(job.FIELDS)} fields)": lambda: decode_only(spark, ctx, source, job.FIELDS),
            "decode only, every field (19)": lambda: decode_only(spark, ctx, source, None),
            "stateless: read, decode, clamp, window rows -> no-op sink": lambda: stateless(fresh("stateless"),
                                                                                          cfg.window_minutes, False),
            "the same + the de-duplication's shuffle (no state)": lambda: stateless(fresh("shuffle"),
                                                                                   cfg.window_minutes, True),
            "exact-once floor: read, decode, clamp, dedup -> no-op sink": lambda: dedup_only(fresh("dedup"),
                                                                                            cfg.window_minutes),
            "app_events job (its one query: windows + funnel)": lambda: run_jobs(fresh("job"), ["app_events"]),
            "ceiling: the same job without de-duplication": lambda: job_without_dedup(fresh("nodedup"),
                                                                                    cfg.window_minutes),
            "user_state job alone (its fold pays per user and micro-batch)": lambda: run_jobs(fresh("us"),
                                                                                             ["user_state"]),
        }
        counts = dict.fromkeys(rows_fn, n)  # what a row's rate counts: app events, or the CDC changes
        booking_row = "booking_state job alone (CDC changes/s; its fold pays per booking and micro-batch)"
        if changes:
            rows_fn[booking_row] = lambda: run_jobs(fresh("bs"), ["booking_state"])
            counts[booking_row] = changes
        for i in range(args.warm_ups):  # JVM, connector, codegen, the decoder's and the state store's JIT
            for name, fn in rows_fn.items():
                wall, _, jit = measured(fn, jvm_pid)
                print(f"  warm-up {i + 1}/{args.warm_ups}: {name}: {counts[name] / wall:,.0f}/s, JIT {jit:.1f} CPU-s",
                      file=sys.stderr)
        timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in rows_fn}
        for i in range(args.repeat):
            for name, fn in rows_fn.items():
                timings[name].append(measured(fn, jvm_pid))
                print(f"  run {i + 1}/{args.repeat}: {name}: {counts[name] / timings[name][-1][0]:,.0f}/s",
                      file=sys.stderr)
        if not args.skip_full:  # its other jobs have not run yet: one warm-up run of its own, then one measured
            every_job = list(registry(settings).names())
            if args.warm_ups:
                wall, _, jit = measured(lambda: run_jobs(fresh("full"), every_job), jvm_pid)
                print(f"  warm-up: full driver: {n / wall:,.0f} events/s, JIT {jit:.1f} CPU-s", file=sys.stderr)
            timings["full driver (every job of make spark)"] = [
                measured(lambda: run_jobs(fresh("full"), every_job), jvm_pid)]
            counts["full driver (every job of make spark)"] = n
        medians = {name: sorted(runs_of)[len(runs_of) // 2] for name, runs_of in timings.items()}
        raw_rate = n / medians["spark raw Kafka read + count (baseline)"][0]
        for name, (secs, cpu, jit) in medians.items():
            k = counts[name]
            rates = sorted(k / r[0] for r in timings[name])
            rows.append({"what": name, "events": k, "runs": len(rates), "seconds": round(secs, 2),
                         "events_per_s": round(k / secs), "slowest_fastest": f"{rates[0]:,.0f}-{rates[-1]:,.0f}",
                         "vs_raw": round((k / secs) / raw_rate, 3) if name != booking_row else None,
                         "cpu_s_per_1k_events": round(cpu / k * 1000, 4), "jit_cpu_s": round(jit, 2)})
        memory = jvm_memory(spark)
        spark.stop()
    target = {"app_events_min_events_per_s": 100_000, "min_vs_raw": 0.5}
    write_results("spark", rows, {"preload_s": round(load_s, 1), "memory": memory, "target": target,
                                  "master": args.master, "cpus": os.cpu_count(), "warm_ups": args.warm_ups,
                                  "repeat": args.repeat, "users": args.users, "bookings": args.bookings,
                                  "cdc_changes": changes,
                                  "loadavg_1m_at_end": os.getloadavg()[0]})
    print(f"driver memory: {memory}")
    return 0


if __name__ == "__main__":
    exit_with(main)
