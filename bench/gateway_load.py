"""A lean HTTP/1.1 keep-alive load generator (asyncio + uvloop, raw protocol) for the gateway.

Closed loop (``--connections`` requests in flight) or paced (``--rate`` req/s, latency measured from the
*intended* send time so a stall is not hidden: no coordinated omission). Bodies are rendered up front
and cycled; every event carries ``properties.run = <run id>`` so a run's events can be counted in Kafka.
Prints the live rate every second on stderr; writes a JSON summary::

    python -m bench.gateway_load --url http://127.0.0.1:8000 --duration 10 --connections 32
    python -m bench.gateway_load --rate 4000 --duration 10 --json /tmp/single.json
    python -m bench.gateway_load --batch 500 --connections 4 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import orjson

from eventbus.cli import exit_with

API_KEY = "local-dev-key"


class Conn(asyncio.Protocol):
    """One keep-alive connection; ``await conn.request(raw)`` returns ``(status, body)``."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.need: int | None = None
        self.status = 0
        self.length = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need is None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buf[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"content-length:")
                if at >= 0:
                    eol = head.find(b"\r\n", at)
                    self.length = int(head[at + 15 : eol if eol > 0 else len(head)])
                else:
                    self.length = 0
                self.need = end + 4 + self.length
            if len(self.buf) < self.need:
                return
            body = bytes(self.buf[self.need - self.length : self.need])
            del self.buf[: self.need]
            self.need = None
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self.status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection closed: {exc}"))
        self.transport = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            raise ConnectionError("not connected")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


async def connect(host: str, port: int) -> Conn:
    _, conn = await asyncio.get_running_loop().create_connection(Conn, host, port)
    return conn


def render(host: str, port: int, path: str, body: bytes, api_key: str = API_KEY) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"x-api-key: {api_key}\r\nUser-Agent: bench-gateway/1\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def event(run: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": ("search", "page_view", "filter_applied", "click_cta")[n % 4],
        "event_ts": 1_764_000_000_000 + n,
        "user_id": f"user-{n % 5000}",
        "session_id": f"sess-{n % 997}",
        "platform": ("ios", "android", "web")[n % 3],
        "device_id": f"dev-{n % 5000}",
        "app_version": "5.2.0",
        "locale": "vi-VN",
        "page": "search_results",
        "destination": "Da Nang",
        "properties": {"run": run, "query": "beach resort"},
        **extra,
    }


def requests_for(host: str, port: int, run: str, batch: int, distinct: int) -> list[bytes]:
    if batch < 0:  # GET /health: the HTTP stack alone, no Kafka
        return [f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()]
    if batch:
        bodies = (
            orjson.dumps({"events": [event(run, i * batch + j) for j in range(batch)]})
            for i in range(max(1, distinct // batch))
        )
        return [render(host, port, "/events/batch", body) for body in bodies]
    return [render(host, port, "/events/user", orjson.dumps(event(run, i))) for i in range(distinct)]


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    s = sorted(latencies)

    def p(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2)

    return {
        "p50_ms": p(0.50), "p90_ms": p(0.90), "p99_ms": p(0.99), "p999_ms": p(0.999), "max_ms": round(s[-1] * 1000, 2)
    }


async def run_load(
    url: str, *, duration: float, connections: int, rate: float | None, batch: int, run: str, distinct: int = 2000,
    warmup: float = 0.0, quiet: bool = False,
) -> dict[str, Any]:
    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    reqs = requests_for(host, port, run, batch, distinct)
    conns = [await connect(host, port) for _ in range(connections)]
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    done = 0
    all_2xx = 0  # warm-up included: every 2xx is an event that must be in Kafka
    t0 = time.perf_counter()
    measure_from = t0 + warmup
    stop_at = measure_from + duration
    interval = connections / rate if rate else 0.0

    async def worker(k: int, conn: Conn) -> None:
        nonlocal done, all_2xx
        i = k
        next_at = t0 + (k * interval / connections if rate else 0.0)
        while True:
            now = time.perf_counter()
            if rate:
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                start = next_at
                next_at += interval
            else:
                start = now
            if start >= stop_at:
                return
            try:
                status, _ = await conn.request(reqs[i % len(reqs)])
            except ConnectionError as exc:
                errors[str(exc)[:80]] += 1
                return
            end = time.perf_counter()
            i += connections
            all_2xx += 200 <= status < 300
            if start >= measure_from:
                statuses[status] += 1
                latencies.append(end - start)
                done += 1

    async def reporter() -> None:
        last, last_t = 0, time.perf_counter()
        while True:
            await asyncio.sleep(1.0)
            now = time.perf_counter()
            if not quiet:
                per, unit = (batch, "events/s") if batch > 0 else (1, "req/s")
                print(f"  {now - t0:5.1f}s  {(done - last) / (now - last_t) * per:10.0f} {unit}", file=sys.stderr)
            last, last_t = done, now

    rep = asyncio.ensure_future(reporter())
    await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))
    rep.cancel()
    elapsed = time.perf_counter() - measure_from
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "route": "/health" if batch < 0 else "/events/batch" if batch else "/events/user",
        "mode": f"paced {rate:g} req/s" if rate else "closed loop",
        "connections": connections,
        "batch": batch,
        "run": run,
        "seconds": round(elapsed, 2),
        "requests": done,
        "ok_2xx": ok,
        "ok_2xx_incl_warmup": all_2xx,
        "req_per_s": round(done / elapsed, 1),
        "events_per_s": round(ok * max(batch, 0) / elapsed, 1) if batch else round(ok / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": dict(errors),
        **percentiles(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=None, help="paced req/s (default: closed loop)")
    parser.add_argument(
        "--batch", type=int, default=0, help="events per request via /events/batch (0: /events/user, -1: GET /health)"
    )
    parser.add_argument("--run", default=None, help="run id put in properties.run (default: random)")
    parser.add_argument("--json", default=None, help="write the summary here too")
    parser.add_argument("--quiet", action="store_true", help="no live rate")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        run_load(
            args.url, duration=args.duration, connections=args.connections, rate=args.rate, batch=args.batch,
            run=args.run or uuid.uuid4().hex[:12], warmup=args.warmup, quiet=args.quiet,
        )
    )
    text = json.dumps(result)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    exit_with(main)
