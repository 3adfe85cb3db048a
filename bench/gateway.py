"""Gateway benchmark (`make bench-gateway`): single-event req/s and p50/p99, batch events/s, each beside
a bare confluent-kafka producer (acks=all, idempotent) on the same broker in the same run.

    python -m bench.gateway                     # ~1.5 min; table + bench/results/gateway.json
    python -m bench.gateway --seconds 20 --workers 2

Load comes from ``bench.gateway_load`` (asyncio + uvloop, raw HTTP/1.1 keep-alive) in its own process,
on loopback, on the same machine as the gateway and the broker. After the runs the topic is read back:
every 2xx of every run must be an event in ``topic_app_events`` (counted by the run id each event
carries) — the acknowledged count is reported beside the 2xx count. Those events stay in the stack's
``topic_app_events`` (the gateway's catalog topic), where the Spark jobs count them: `make verify` then
reports the windows they fall in as wrong, so do not bench a stack you are verifying. The raw baseline
writes to its own scratch topic, deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import confluent_kafka

from bench.gateway_load import event
from eventbus.catalog import load_catalog
from eventbus.cli import exit_with
from eventbus.kafka.config import producer_config
from eventbus.kafka.reader import end_offsets, read_range
from eventbus.serde import AvroSerde
from eventbus.settings import Settings, get_settings
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.models import AppEventIn, to_record
from tests.support.harness import create_topics, delete_topics, served_gateway

TOPIC = GatewayConfig().topic
#: The raw baseline's own scratch topic (topic_app_events' partitions): its millions of records per run
#: would otherwise land in the stack's live topic_app_events, where the Spark jobs, the lake and verify
#: read them. (The gateway's own events do go to topic_app_events: that is the gateway's catalog topic.)
RAW_TOPIC = "bench_gateway_raw"

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"single_req_per_s": 4000, "single_p99_ms": 25.0, "batch_events_per_s": 100_000}


def raw_producer_baseline(settings: Settings, seconds: float) -> dict[str, Any]:
    """A bare confluent-kafka loop: pre-encoded AppEvents (the gateway's record size), acks=all."""
    encode = AvroSerde(settings).encoder(TOPIC)
    values = []
    for i in range(2000):
        ev = AppEventIn.model_validate(event("raw-baseline", i))
        values.append((ev.user_id, encode(to_record(ev, event_id=f"raw-{i}", received_ts=ev.event_ts,
                                                         client_ip="127.0.0.1", user_agent="bench"))))
    delete_topics(settings, [RAW_TOPIC])
    create_topics(settings, {RAW_TOPIC: load_catalog(settings).get(TOPIC).partitions})
    try:
        return _raw_rate(settings, values, seconds)
    finally:
        delete_topics(settings, [RAW_TOPIC])


def _raw_rate(settings: Settings, values: list[tuple[str, bytes]], seconds: float) -> dict[str, Any]:
    conf = producer_config(settings, "bench-raw-baseline", {})
    delivered = Counter[str]()

    def on_delivery(err: Any, _msg: Any) -> None:
        delivered["failed" if err else "ok"] += 1

    conf["on_delivery"] = on_delivery
    producer = confluent_kafka.Producer(conf)
    sent, t0 = 0, time.perf_counter()
    stop = t0 + seconds
    while time.perf_counter() < stop:
        for key, value in values[:500]:
            try:
                producer.produce(RAW_TOPIC, value, key)
            except BufferError:
                producer.poll(0.01)
                continue
            sent += 1
        producer.poll(0)
        values = values[500:] + values[:500]
    producer.flush(60)
    elapsed = time.perf_counter() - t0
    return {
        "messages": sent,
        "acknowledged": delivered["ok"],
        "failed": delivered["failed"],
        "msgs_per_s": round(delivered["ok"] / elapsed, 1),
        "record_bytes": len(values[0][1]),
    }


def load(url: str, seconds: float, *, connections: int, batch: int = 0, rate: float | None = None) -> dict[str, Any]:
    """One run of the load generator in its own process (prints live rates on stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "bench.gateway_load", "--url", url, "--duration", str(seconds),
               "--connections", str(connections), "--batch", str(batch), "--warmup", "2", "--json", out.name]
        if rate:
            cmd += ["--rate", str(rate)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent)
        return json.loads(Path(out.name).read_text())


def count_run_events(settings: Settings, start: dict[int, int], end: dict[int, int], runs: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    wanted = set(runs)
    for _key, record in read_range(settings, start, end, TOPIC, containing=b"\x06run"):
        run = record["properties"].get("run")
        if run in wanted:
            found[run] += 1
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--workers", type=int, default=None, help="uvicorn workers (default: CPUs)")
    parser.add_argument("--connections", type=int, default=32, help="single-event connections")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--skip-verify", action="store_true", help="do not read the topic back")
    args = parser.parse_args(argv)
    from lambdas.gateway.__main__ import default_workers
    from local.stack import control as stack

    workers = args.workers or default_workers()
    settings = get_settings()
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()[0], "shared": True},
        "workers": workers,
        "targets": TARGETS,
    }
    with stack.session():
        print("raw baseline: bare confluent-kafka producer (acks=all, idempotent) ...", flush=True)
        report["raw_producer"] = raw_producer_baseline(settings, min(args.seconds, 10))
        print(f"  {report['raw_producer']['msgs_per_s']:,.0f} msgs/s", flush=True)
        start = end_offsets(settings, TOPIC)
        runs: dict[str, dict[str, Any]] = {}
        with served_gateway(workers=workers, log_path=_log_path()) as url:
            for name, kwargs in [
                ("http_health", {"connections": args.connections, "batch": -1}),
                ("single_closed_loop", {"connections": args.connections}),
                ("single_paced_4000", {"connections": args.connections * 2, "rate": 4000.0}),
                ("batch_500", {"connections": args.batch_connections, "batch": 500}),
            ]:
                print(f"{name} ({args.seconds:g}s) ...", flush=True)
                runs[name] = load(url, args.seconds, **kwargs)
                r = runs[name]
                print(f"  {r['req_per_s']:,.0f} req/s, {r['events_per_s']:,.0f} events/s, p50 {r.get('p50_ms')} ms, "
                      f"p99 {r.get('p99_ms')} ms, statuses {r['statuses']}", flush=True)
        end = end_offsets(settings, TOPIC)
        report["runs"] = runs
        if not args.skip_verify:
            print("reading the topic back ...", flush=True)
            found = count_run_events(settings, start, end, [r["run"] for r in runs.values()])
            for r in runs.values():
                if r["batch"] >= 0:
                    r["events_2xx"] = r["ok_2xx_incl_warmup"] * (r["batch"] or 1)
                    r["events_in_kafka"] = found.get(r["run"], 0)
    report["machine"]["load_avg_end"] = os.getloadavg()[0]
    _print_table(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gateway.json").write_text(json.dumps(report, indent=2) + "\n")
    print("wrote bench/results/gateway.json")
    bad = [n for n, r in report["runs"].items() if "events_in_kafka" in r and r["events_in_kafka"] != r["events_2xx"]]
    if bad:
        print(f"FAILED: acknowledged events and events in Kafka differ in {bad}")
        return 1
    return 0


def _log_path() -> Path:
    RESULTS.mkdir(exist_ok=True)
    return RESULTS / "gateway_bench.log"


def _print_table(report: dict[str, Any]) -> None:
    raw = report["raw_producer"]["msgs_per_s"]
    print(f"\n{'run':<20} {'req/s':>9} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'2xx ev':>8} "
          f"{'in Kafka':>9} {'vs raw':>7}")
    print(f"{'raw producer':<20} {'':>9} {raw:>10,.0f} {'':>8} {'':>8} {'':>8} {'':>9} {'1.00':>7}")
    for name, r in report["runs"].items():
        share = f"{r['events_per_s'] / raw:.2f}" if r["batch"] >= 0 and raw else ""
        print(f"{name:<20} {r['req_per_s']:>9,.0f} {r['events_per_s'] if r['batch'] >= 0 else 0:>10,.0f} "
              f"{r.get('p50_ms', 0):>8} {r.get('p99_ms', 0):>8} {r.get('events_2xx', r['ok_2xx']):>8} "
              f"{r.get('events_in_kafka', '-'):>9} {share:>7}")
    m = report["machine"]
    print(f"({m['cpus']} CPUs shared with the broker, the load generator and other work: load average "
          f"{m['load_avg_start']:.1f} -> {m['load_avg_end']:.1f}; targets {report['targets']})")


if __name__ == "__main__":
    exit_with(main)
