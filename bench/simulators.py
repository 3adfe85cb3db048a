"""make bench-simulators: how many realistic events/s the simulators put into Kafka (Avro-encoded,
acknowledged by the broker, N worker processes), each source alone and all together, beside a bare
confluent-kafka producer sending pre-built bytes of the same records in the same run; the Avro encoder
against fastavro; and the rate accuracy at 1,000 events/s for 60 s.

    python -m bench.simulators                    # everything (~3 min)
    python -m bench.simulators --seconds 5 --skip-rate

Writes to throw-away topics ``bench_sim_<catalog topic>`` (same partitions; deleted afterwards).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import multiprocessing as mp
import os
import queue
import statistics
import time
import uuid
from typing import Any

import confluent_kafka
import fastavro

from bench.common import ensure_stack, write_results
from eventbus.avro_compiler import compile_encoder
from eventbus.catalog import load_catalog
from eventbus.cli import exit_with
from eventbus.kafka.config import producer_config
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.simulators.runner import Runner
from lambdas.simulators.scenario import validate_scenario
from lambdas.simulators.sources import REGISTRY, SourceContext
from lambdas.simulators.workers import run_workers
from lambdas.simulators.world import World
from tests.support.harness import create_topics, delete_topics

PREFIX = "bench_sim_"
#: The realistic mix (relative rates of the default scenario, without the OLTP workload).
MIX = {"mobile": 1.5, "web": 0.8, "clickstream": 1.6, "app_logs": 1.0, "external": 0.05}
START_MS = 1_748_764_800_000
#: Producer tuning for throughput (the delivery contract — idempotence, acks=all — is unchanged).
PRODUCER = {"linger.ms": 20, "batch.num.messages": 10_000}


def _topics(settings: Settings) -> list[str]:
    return sorted({REGISTRY[s].topic for s in MIX})  # type: ignore[misc]


def _recreate_topics(settings: Settings, delete_only: bool = False) -> None:
    """Fresh scratch copies of the source topics (same partitions as the catalog's)."""
    names = [PREFIX + t for t in _topics(settings)]
    delete_topics(settings, names)
    if not delete_only:
        catalog = load_catalog(settings)
        create_topics(settings, {PREFIX + t: catalog.get(t).partitions for t in _topics(settings)})


# -- bare producer --------------------------------------------------------------------------------
def _payloads(settings: Settings, n: int) -> list[tuple[str, str, bytes]]:
    """(topic, key, Avro bytes) of ``n`` realistic records in the mix's proportions."""
    serde = AvroSerde(settings)
    world = World(seed=1, users=20_000)
    total = sum(MIX.values())
    out = []
    for name, rate in MIX.items():
        cls = REGISTRY[name]
        topic = cls.topic
        assert topic
        count = max(1, int(n * rate / total))
        src = cls(SourceContext(world=world, extras={"start_ms": START_MS}))
        for key, rec in src.generate(list(range(START_MS, START_MS + count))):
            out.append((PREFIX + topic, key, serde.encode(topic, rec)))
    out.sort(key=lambda t: hash(t[2]))  # interleave the topics
    return out


def _bare_worker(settings: Settings, payloads: list[tuple[str, str, bytes]], seconds: float, q: Any) -> None:
    acked = failed = 0

    def report(err: Any, _msg: Any) -> None:
        nonlocal acked, failed
        if err is None:
            acked += 1
        else:
            failed += 1

    conf = producer_config(settings, f"bench-bare-{os.getpid()}", dict(PRODUCER))
    conf["on_delivery"] = report
    producer = confluent_kafka.Producer(conf)
    produce, poll = producer.produce, producer.poll
    t0 = time.monotonic()
    end = t0 + seconds
    sent = 0
    while time.monotonic() < end:
        for topic, key, value in payloads:
            while True:
                try:
                    produce(topic, value, key)
                    break
                except BufferError:  # queue full: serve delivery reports (backpressure)
                    poll(0.05)
            sent += 1
            if sent % 2000 == 0:
                poll(0)
                if time.monotonic() >= end:
                    break
    producer.flush(60)
    q.put({"sent": sent, "acked": acked, "failed": failed, "elapsed": time.monotonic() - t0})


def bench_bare(settings: Settings, workers: int, seconds: float) -> dict[str, Any]:
    payloads = _payloads(settings, 20_000)
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_bare_worker, args=(settings, payloads, seconds, q)) for _ in range(workers)]
    for p in procs:
        p.start()
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds + 120
    while len(results) < len(procs):
        try:
            results.append(q.get(timeout=1.0))
        except queue.Empty:
            if time.monotonic() > deadline or all(not p.is_alive() for p in procs):
                raise RuntimeError("a bare-producer worker died without a result (see its traceback above)") from None
    for p in procs:
        p.join()
    acked = sum(r["acked"] for r in results)
    assert not any(r["failed"] for r in results), results
    elapsed = max(r["elapsed"] for r in results)
    size = sum(len(v) for _, _, v in payloads) / len(payloads)
    return {"case": "bare confluent-kafka producer, pre-built bytes (baseline)", "workers": workers,
            "events": acked, "seconds": round(elapsed, 2), "events_per_s": acked / elapsed,
            "MB_per_s": acked * size / elapsed / 1e6, "avg_bytes": round(size)}


# -- the simulators ---------------------------------------------------------------------------------
def _scenario(sources: dict[str, float], **extra: Any) -> dict[str, Any]:
    doc = {"name": "bench", "seed": 7, "start": "2025-06-01T08:00:00Z", "speed": "max", "sink": "kafka",
           "users": 20_000, "display": "off", "curve": {"shape": "flat", "amplitude": 0.0},
           "kafka": {"topic_prefix": PREFIX, "producer": dict(PRODUCER)},
           "sources": {n: {"rate": r} for n, r in sources.items()}}
    doc.update(extra)
    return doc


def bench_simulators(label: str, sources: dict[str, float], workers: int, seconds: float,
                     replay_pool: int = 0) -> dict[str, Any]:
    doc = _scenario(sources, duration_s=seconds)
    doc["kafka"]["replay_pool"] = replay_pool
    report = run_workers(validate_scenario(doc), workers)
    kafka = report["sinks"]["kafka"]
    assert kafka["failed"] == 0 and kafka["rejected"] == 0 and not report["errors"], report
    elapsed = report["flushed_s"]
    return {"case": label, "workers": workers, "events": kafka["delivered"], "seconds": round(elapsed, 2),
            "events_per_s": kafka["delivered"] / elapsed}


def bench_encoders(settings: Settings, n: int) -> list[dict[str, Any]]:
    world = World(seed=1, users=20_000)
    rows = []
    for name in MIX:
        cls = REGISTRY[name]
        spec = load_catalog(settings).get(cls.topic)  # type: ignore[arg-type]
        src = cls(SourceContext(world=world, extras={"start_ms": START_MS}))
        records = [r for _, r in src.generate(list(range(START_MS, START_MS + n)))]
        compiled = compile_encoder(json.loads(spec.schema_text))

        def fast(rec: dict[str, Any], schema: Any = spec.schema) -> bytes:
            buf = io.BytesIO()
            fastavro.schemaless_writer(buf, schema, rec)
            return buf.getvalue()

        t0 = time.process_time()
        generated = src.generate(list(range(START_MS, START_MS + n)))
        gen_us = (time.process_time() - t0) / len(generated) * 1e6
        timings = {}
        for label, fn in (("fastavro", fast), ("compiled", compiled)):
            best = min(_cpu(fn, records) for _ in range(3))
            timings[label] = best / n * 1e6
        rows.append({"case": f"{name}: generate / encode (1 process, CPU us per record)", "generate_us": gen_us,
                     "fastavro_us": timings["fastavro"], "compiled_us": timings["compiled"],
                     "speedup": f"x{timings['fastavro'] / timings['compiled']:.2f}"})
    return rows


def _cpu(fn: Any, records: list[dict[str, Any]]) -> float:
    t0 = time.process_time()
    for rec in records:
        fn(rec)
    return time.process_time() - t0


def bench_rate(rate: float, seconds: float) -> dict[str, Any]:
    total = sum(MIX.values())
    doc = _scenario({n: rate * r / total for n, r in MIX.items()}, speed="realtime", duration_s=seconds,
                    display_every_s=1.0)
    doc["kafka"]["producer"] = {}
    runner = Runner(validate_scenario(doc))
    samples: list[tuple[float, int]] = []
    report = runner.run(on_tick=lambda snap: samples.append(
        (snap["elapsed_s"], sum(s["emitted"] for s in snap["sources"].values()))), every_s=1.0)
    per_s = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(samples) if b[0] > a[0]]
    achieved = report["emitted"] / seconds
    delivered = report["sinks"]["kafka"]["delivered"]
    return {"case": f"rate accuracy: {rate:,.0f} events/s for {seconds:.0f} s (real time, Kafka, 1 process)",
            "target_per_s": rate, "events": report["emitted"], "delivered": delivered,
            "achieved_per_s": achieved, "error_pct": round(100 * (achieved - rate) / rate, 3),
            "within_1pct": abs(achieved - rate) <= rate * 0.01,
            "one_second_min": min(per_s) if per_s else None, "one_second_max": max(per_s) if per_s else None,
            "one_second_stdev": statistics.pstdev(per_s) if len(per_s) > 1 else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulators", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per throughput case")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="worker processes")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the rate-accuracy case")
    parser.add_argument("--rate-seconds", type=float, default=60.0, help="duration of the rate-accuracy case")
    parser.add_argument("--skip-rate", action="store_true", help="skip the rate-accuracy case")
    parser.add_argument("--skip-sources", action="store_true", help="skip the per-source cases")
    parser.add_argument("--pool", type=int, default=20_000, help="records per source in the replay case")
    args = parser.parse_args(argv)

    ensure_stack()
    settings = Settings()
    _recreate_topics(settings)
    rows: list[dict[str, Any]] = []
    try:
        bare = bench_bare(settings, args.workers, args.seconds)
        rows.append(bare)
        print(f"  bare producer: {bare['events_per_s']:,.0f} events/s", flush=True)
        mix = {n: 1e6 * r for n, r in MIX.items()}  # unreachable rates: as fast as possible, in proportion
        agg = bench_simulators("simulators, all sources, live generation (realistic mix, Avro, acked)", mix,
                               args.workers, args.seconds * 1.5)
        rows.append(agg)
        print(f"  all sources, live: {agg['events_per_s']:,.0f} events/s", flush=True)
        replay = bench_simulators(f"simulators, all sources, replay pool of {args.pool:,} per source", mix,
                                  args.workers, args.seconds * 1.5, replay_pool=args.pool)
        rows.append(replay)
        print(f"  all sources, replay: {replay['events_per_s']:,.0f} events/s", flush=True)
        if not args.skip_sources:
            for name in MIX:
                row = bench_simulators(f"simulators, {name} only, live", {name: 1e6}, args.workers, args.seconds)
                rows.append(row)
                print(f"  {name}: {row['events_per_s']:,.0f} events/s", flush=True)
        for r in rows[1:]:
            r["vs_bare"] = f"{r['events_per_s'] / bare['events_per_s']:.0%}"
        rows += bench_encoders(settings, 20_000)
        if not args.skip_rate:
            print(f"  rate accuracy: {args.rate:,.0f}/s for {args.rate_seconds:.0f} s ...", flush=True)
            rows.append(bench_rate(args.rate, args.rate_seconds))
    finally:
        _recreate_topics(settings, delete_only=True)
    target = 150_000
    write_results("simulators", rows, {
        "run_id": str(uuid.uuid4()), "topics": [PREFIX + t for t in _topics(settings)],
        "aggregate_live_events_per_s": agg["events_per_s"], "aggregate_replay_events_per_s": replay["events_per_s"],
        "bare_events_per_s": bare["events_per_s"], "target_events_per_s": target,
        "note": "shared 2-core machine: other sessions' tests and the broker run beside the benchmark",
        "producer_overrides": PRODUCER})
    return 0


if __name__ == "__main__":
    exit_with(main)
