"""No-loss drill: under steady load, stop the broker, keep sending, start it again; then read
``topic_app_events`` back and check what each client was told against what Kafka holds.

    python -m bench.gateway_drill                       # ~40 s; `make drill-gateway`
    python -m bench.gateway_drill --outage 10 --rate 400

Every event carries a unique ``event_id`` (``drill-<run>-<n>``); half the load is single events, half
batches of 10. Invariants (exit 1 when broken):

* every event answered accepted (2xx) is in Kafka, exactly once;
* nothing is in Kafka that was not sent; an event in Kafka that was answered 503 is a *possible
  duplicate* — allowed only when its 503 said ``possibly_persisted: true`` — and is counted;
* readiness goes 503 while the broker is down and 200 again after it is back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson

from bench.gateway_load import Conn, connect, event, render
from eventbus.cli import exit_with
from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import Settings, get_settings
from lambdas.gateway.config import GatewayConfig
from local.stack.health import http_get
from tests.support.harness import served_gateway

TOPIC = GatewayConfig().topic

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 10


class Ledger:
    """What each event's client was told."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.failed: dict[str, bool] = {}  # event_id -> possibly_persisted
        self.rejected: set[str] = set()
        self.unanswered: set[str] = set()  # connection error: the client does not know
        self.statuses: Counter[int] = Counter()

    def record(self, ids: list[str], status: int, body: bytes) -> None:
        self.statuses[status] += 1
        doc = orjson.loads(body) if body else {}
        if "results" in doc:
            for eid, res in zip(ids, doc["results"], strict=True):
                self._one(eid, res["status"], res.get("possibly_persisted"))
        elif 200 <= status < 300:
            self._one(ids[0], "accepted", None)
        elif status == 503:
            self._one(ids[0], "failed", doc.get("possibly_persisted", True))
        else:
            for eid in ids:
                self.rejected.add(eid)

    def _one(self, eid: str, status: str, possibly: bool | None) -> None:
        if status == "accepted":
            self.accepted.add(eid)
        elif status == "failed":
            self.failed[eid] = bool(possibly)
        else:
            self.rejected.add(eid)


async def _load(url: str, run: str, rate: float, stop: threading.Event, ledger: Ledger, connections: int) -> None:
    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    counter = iter(range(10**9))
    interval = connections / rate

    async def worker(k: int) -> None:
        conn: Conn | None = None
        next_at = time.perf_counter() + k * interval / connections
        while not stop.is_set():
            now = time.perf_counter()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            next_at = max(next_at + interval, time.perf_counter() - interval)
            batch = k % 2 == 1
            ids = [f"drill-{run}-{next(counter)}" for _ in range(BATCH if batch else 1)]
            events = [event(run, int(i.rsplit("-", 1)[1]), event_id=i) for i in ids]
            raw = (
                render(host, port, "/events/batch", orjson.dumps({"events": events}))
                if batch
                else render(host, port, "/events/user", orjson.dumps(events[0]))
            )
            try:
                if conn is None or conn.transport is None:
                    conn = await connect(host, port)
                status, body = await conn.request(raw)
            except OSError:
                ledger.unanswered.update(ids)
                conn = None
                continue
            ledger.record(ids, status, body)

    await asyncio.gather(*(worker(k) for k in range(connections)))


def run_drill(
    settings: Settings | None = None,
    *,
    rate: float = 300.0,
    before_s: float = 6.0,
    outage_s: float = 8.0,
    after_s: float = 8.0,
    connections: int = 16,
    workers: int = 2,
    say: Any = print,
) -> dict[str, Any]:
    """Run the drill against a fresh gateway process; returns the counts and ``ok``."""
    from local.stack import control as stack

    settings = settings or get_settings()
    run = uuid.uuid4().hex[:10]
    ledger = Ledger()
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / "gateway_drill.log"
    log_path.write_bytes(b"")
    ready_seen: dict[str, bool] = {"unready_while_down": False, "ready_after_restart": False}
    with served_gateway(workers=workers, log_path=log_path) as url:
        start = end_offsets(settings, TOPIC)
        stop = threading.Event()
        loader = threading.Thread(
            target=lambda: asyncio.run(_load(url, run, rate, stop, ledger, connections)), name="drill-load"
        )
        t0 = time.monotonic()
        loader.start()
        try:
            _sleep_until(t0 + before_s, loader)
            say(f"drill: {len(ledger.accepted)} accepted so far; stopping kafka")
            stack.stop_program("kafka")
            t_down = time.monotonic()
            say(f"drill: kafka stopped ({t_down - t0:.1f}s); still sending for {outage_s:.0f}s")
            while time.monotonic() < t_down + outage_s:
                answer = http_get(url + "/ready", timeout=4)
                if answer is not None and answer[0] == 503:
                    ready_seen["unready_while_down"] = True
                time.sleep(0.5)
            took = stack.start_program("kafka")
            say(f"drill: kafka healthy again after {took:.1f}s; sending for {after_s:.0f}s more")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                answer = http_get(url + "/ready", timeout=4)
                if answer is not None and answer[0] == 200:
                    ready_seen["ready_after_restart"] = True
                    break
                time.sleep(0.25)
            _sleep_until(time.monotonic() + after_s, loader)
        finally:
            stop.set()
            loader.join(60)
        end = end_offsets(settings, TOPIC)
    # The gateway has exited (and flushed): nothing can still reach the topic for this run.
    in_kafka: Counter[str] = Counter()
    for _key, record in read_range(settings, start, end, TOPIC):
        if record["event_id"].startswith(f"drill-{run}-"):
            in_kafka[record["event_id"]] += 1
    present = set(in_kafka)
    failed = set(ledger.failed)
    report: dict[str, Any] = {
        "run": run,
        "rate_req_per_s": rate,
        "outage_s": outage_s,
        "sent_events": len(ledger.accepted) + len(failed) + len(ledger.rejected) + len(ledger.unanswered),
        "accepted_2xx": len(ledger.accepted),
        "answered_503": len(failed),
        "rejected_4xx": len(ledger.rejected),
        "unanswered": len(ledger.unanswered),
        "http_statuses": {str(k): v for k, v in sorted(ledger.statuses.items())},
        "in_kafka": len(present),
        "accepted_missing_from_kafka": len(ledger.accepted - present),
        "duplicates_in_kafka": sum(n - 1 for n in in_kafka.values() if n > 1),
        "in_kafka_not_sent_or_rejected": len(present - ledger.accepted - failed - ledger.unanswered),
        "failed_503_absent": len(failed - present),
        "failed_503_present_possible_duplicates": len(failed & present),
        "present_despite_not_persisted_503": len({e for e in failed & present if not ledger.failed[e]}),
        "unanswered_present": len(ledger.unanswered & present),
        **ready_seen,
    }
    report["ok"] = (
        report["accepted_2xx"] > 0
        and report["answered_503"] > 0
        and report["accepted_missing_from_kafka"] == 0
        and report["duplicates_in_kafka"] == 0
        and report["in_kafka_not_sent_or_rejected"] == 0
        and report["present_despite_not_persisted_503"] == 0
        and report["unready_while_down"]
        and report["ready_after_restart"]
    )
    return report


def _sleep_until(t: float, loader: threading.Thread) -> None:
    while time.monotonic() < t:
        if not loader.is_alive():
            raise RuntimeError("the drill's load generator stopped early")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=300.0, help="requests/s (half single events, half batches of 10)")
    parser.add_argument("--before", type=float, default=6.0, help="seconds of load before the broker stops")
    parser.add_argument("--outage", type=float, default=8.0, help="seconds the broker stays down")
    parser.add_argument("--after", type=float, default=8.0, help="seconds of load after it is healthy again")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from local.stack import control as stack

    with stack.session():
        report = run_drill(rate=args.rate, before_s=args.before, outage_s=args.outage, after_s=args.after,
                           workers=args.workers)
    width = max(map(len, report))
    for key, value in report.items():
        print(f"  {key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gateway_drill.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"drill {'PASSED' if report['ok'] else 'FAILED'} — bench/results/gateway_drill.json")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    exit_with(main)
