"""`make bench-spark-rate`: does the app_events job keep up with a live rate, once its state is full?

    python -m bench.spark_rate --rate 10000 --seconds 1080

`make bench-spark` runs a backlog spread over a day of event time, so the job's de-duplication state
never holds more than a few minutes of it. Live, the state holds every event of the open windows plus the
watermark's delay (up to 15 minutes with the defaults), and every micro-batch's eviction walks all of it
(Spark 3.5 ``WatermarkSupport.removeKeysOlderThanWatermark`` iterates the store). That cost grows with
rate x (window + watermark), not with the batch.

This bench replays live time from Kafka: ``--seconds`` of event time at ``--rate`` events per second,
produced in time order (keyed by user, as the gateway does), read by the app_events query with the live
``maxOffsetsPerTrigger`` = rate x trigger interval and back-to-back triggers. Each micro-batch is then one
trigger interval of live traffic; the job sustains the rate when a batch takes no longer than the interval
once the state is full (after window + watermark of event time). The raw Kafka read of the same backlog is
measured in the same run as the baseline.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

from bench.common import scratch_dir, write_results
from bench.spark import measured, raw_read
from emr_jobs.config import SparkSettings
from emr_jobs.jobs import output_topics, source_topics
from emr_jobs.session import build_session
from emr_jobs.streams import JobContext, source_options
from emr_jobs.supervisor import Supervisor
from eventbus.cli import exit_with
from eventbus.durations import duration_ms
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from tests.support.spark_data import BASE, DESTINATIONS, EVENT_TYPES, PLATFORMS
from tests.support.spark_kit import ScratchTopics, produce

CHUNK_S = 10  # seconds of event time per produced chunk (one process each; two run at once)


def live_events(second: int, count: int, rate: int, seed: int) -> list[dict[str, Any]]:
    """``rate`` events per second of event time for ``count`` seconds from ``BASE + second``, in time order."""
    rnd = random.Random(seed)
    out = []
    for s in range(second, second + count):
        for off in sorted(rnd.randrange(1000) for _ in range(rate)):
            ts = BASE + timedelta(seconds=s, milliseconds=off)
            user = f"u{rnd.randrange(50_000)}"
            out.append({"event_id": uuid.UUID(int=rnd.getrandbits(128)).hex, "event_type": rnd.choice(EVENT_TYPES),
                        "event_ts": ts, "received_ts": ts, "user_id": user,
                        "session_id": f"s-{user}-{rnd.randrange(3)}", "platform": rnd.choice(PLATFORMS),
                        "destination": rnd.choice(DESTINATIONS), "properties": {}})
    return out


def _produce_chunk(args: tuple[str, int, int, int]) -> int:
    topic, second, count, rate = args
    settings = Settings()
    return produce(settings, topic, "topic_app_events", live_events(second, count, rate, seed=second), "user_id",
                   AvroSerde(settings))


def preload(topic: str, rate: int, seconds: int) -> float:
    """Produce the live backlog with two processes, chunk by chunk in event-time order; seconds taken."""
    t0, done, total = time.monotonic(), 0, rate * seconds
    chunks = [(topic, s, min(CHUNK_S, seconds - s), rate) for s in range(0, seconds, CHUNK_S)]
    with ProcessPoolExecutor(2) as pool:
        for n in pool.map(_produce_chunk, chunks):
            done += n
            print(f"  preloaded {done:,}/{total:,} ({done / (time.monotonic() - t0):,.0f}/s)", file=sys.stderr)
    return time.monotonic() - t0


def replay(ctx: JobContext, total: int, interval_s: float, deadline_s: float) -> list[dict[str, Any]]:
    """Run the app_events query until it has read ``total`` events; the progress of each batch with data."""
    sup = Supervisor(ctx, ["app_events"])
    sup.start()
    (query,) = sup.queries["app_events"]
    seen: dict[int, dict[str, Any]] = {}
    t0 = time.monotonic()
    try:
        while sum(p["numInputRows"] for p in seen.values()) < total:
            if not sup.poll():
                raise RuntimeError("the app_events query ended before reading the backlog")
            if time.monotonic() - t0 > deadline_s:
                print(f"  stopped after {deadline_s:.0f} s: the job is far behind the rate", file=sys.stderr)
                break
            for p in query.recentProgress:
                p = p if isinstance(p, dict) else json.loads(p.json)
                if p["numInputRows"] and p["batchId"] not in seen:
                    seen[p["batchId"]] = p
                    ms = p["durationMs"]["triggerExecution"]
                    print(f"  batch {p['batchId']}: {p['numInputRows']:,} events in {ms / 1000:.1f} s "
                          f"({'keeps up' if ms <= interval_s * 1000 else 'behind'})", file=sys.stderr)
            time.sleep(1)
    finally:
        sup.stop()
    return [seen[b] for b in sorted(seen)]


def summary(what: str, batches: list[dict[str, Any]], rate: int, interval_s: float) -> dict[str, Any]:
    secs = sorted(p["durationMs"]["triggerExecution"] / 1000 for p in batches)
    rows = sum(p["numInputRows"] for p in batches)
    removals = [sum(o.get("allRemovalsTimeMs") or 0 for o in p.get("stateOperators") or []) / 1000 for p in batches]
    p95 = secs[min(len(secs) - 1, int(0.95 * len(secs)))]
    return {"what": what, "batches": len(secs), "events": rows, "batch_s_p50": round(statistics.median(secs), 2),
            "batch_s_p95": round(p95, 2), "batch_s_max": round(secs[-1], 2),
            "eviction_task_s_p50": round(statistics.median(removals), 2),
            "events_per_s": round(rows / sum(secs)), "keeps_up": p95 <= interval_s,
            "vs_rate": round(rows / sum(secs) / rate, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark_rate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=10_000, help="live events per second of event time (10000)")
    parser.add_argument("--seconds", type=int, default=1080, help="seconds of event time to replay (1080)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the scratch topic (default 6)")
    parser.add_argument("--master", default="local[2]", help="Spark master of the benchmark driver (local[2])")
    args = parser.parse_args(argv)
    settings = Settings()
    base = SparkSettings()
    interval = base.trigger_seconds
    full_after_s = base.window_minutes * 60 + duration_ms(base.watermark) // 1000
    if args.seconds <= full_after_s:
        parser.error(f"--seconds must exceed window + watermark ({full_after_s} s) to reach a full state")
    root = scratch_dir("bench-spark-rate-")
    total = args.rate * args.seconds
    with ScratchTopics(settings, [*source_topics(settings), *output_topics(settings)], partitions=args.partitions,
                       prefix="t_spark_rate") as topics:
        source = topics.actual("topic_app_events")
        load_s = preload(source, args.rate, args.seconds)
        cfg = SparkSettings(master=args.master, topic_overrides=topics.overrides, checkpoint_root=str(root),
                            lake_root=str(root / "lake"), progress_dir=root / "progress", ui_port=0,
                            trigger_seconds=0, max_offsets_per_trigger=int(args.rate * interval))
        spark = build_session("bench-spark-rate", cfg)
        options = source_options(settings, cfg)  # what the job's Kafka source uses
        raw_read(spark, options, source)  # warm-up
        raw_s, _, _ = measured(lambda: raw_read(spark, options, source))
        batches = replay(JobContext.create(spark, settings, cfg, once=False), total, interval,
                         deadline_s=4 * args.seconds)
        spark.stop()
    # each whole batch holds one trigger interval of event time (the last remnant is left out)
    whole = [p for p in batches if p["numInputRows"] >= 0.9 * cfg.max_offsets_per_trigger]
    filling = [p for i, p in enumerate(whole) if i * interval < full_after_s]
    full = [p for i, p in enumerate(whole) if i * interval >= full_after_s]
    rows = [{"what": "spark raw Kafka read + count (baseline)", "events": total, "events_per_s": round(total / raw_s)}]
    if filling:
        rows.append(summary(f"app_events, state filling (first {full_after_s} s of event time)", filling, args.rate,
                            interval))
    if full:
        rows.append(summary("app_events, state full (steady state)", full, args.rate, interval))
    write_results("spark_rate", rows, {"rate": args.rate, "seconds": args.seconds, "trigger_interval_s": interval,
                                       "max_offsets_per_trigger": cfg.max_offsets_per_trigger,
                                       "watermark": base.watermark, "window_minutes": base.window_minutes,
                                       "preload_s": round(load_s, 1), "master": args.master})
    return 0


if __name__ == "__main__":
    exit_with(main)
