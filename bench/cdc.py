"""make bench-cdc: the CDC relay's throughput and commit -> Kafka-ack latency, beside its raw decode rate.

All in one run, on a bookings-like table of its own (own slot, publication and topic, dropped after):

1. raw decode, no Kafka — in memory on captured WAL frames: pgoutput -> dicts (the general path) and
   pgoutput -> framed Avro envelopes (the transcoder the relay uses); then streaming a backlog from
   the slot through the relay with a sink that acknowledges at once;
2. max — a backlog of changes written while the relay is stopped, drained into Kafka;
3. fixed rates (1k, 5k, 10k and 20k changes/s by default) — a separate writer process commits transactions
   of batched INSERT/UPDATE at the rate while the relay streams; latency is commit timestamp
   (PostgreSQL) -> the transaction's last Kafka acknowledgement, per transaction.

    python -m bench.cdc --rates 1000,5000,10000,20000 --duration 10 --repeat 3 --backlog 300000

The machine may be shared: each fixed rate runs ``--repeat`` times and the median run (by p99) is
reported, with the 1-minute load average beside it; every run's p99 is in the JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extras

from bench.common import ensure_stack, write_results
from eventbus.avro_compiler import compile_encoder
from eventbus.catalog import load_catalog
from eventbus.cli import exit_with
from eventbus.kafka import make_admin
from eventbus.logging import configure_logging
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.cdc import relay as relay_module
from lambdas.cdc.envelope import Change, EnvelopeBuilder, KeySpec
from lambdas.cdc.inflight import InFlight, Unit
from lambdas.cdc.lag import percentile
from lambdas.cdc.pgoutput import Begin, Decoder, Delete, Insert, Relation, Update
from lambdas.cdc.relay import Relay, RelayConfig
from lambdas.cdc.transcode import Transcoder
from lambdas.cdc.walstream import WalStream
from local.stack.exceptions import NotReadyError
from local.stack.health import wait_until
from tests.support.harness import create_topics, delete_topics

TABLE_DDL = """CREATE TABLE {t} (
    booking_id text PRIMARY KEY, user_id text NOT NULL, session_id text, hotel_id text NOT NULL,
    destination text NOT NULL, check_in date NOT NULL, check_out date NOT NULL, guests integer NOT NULL,
    amount numeric(12, 2) NOT NULL, currency char(3) NOT NULL DEFAULT 'VND', status text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE {t} REPLICA IDENTITY FULL"""
CITIES = ["Ha Noi", "Da Nang", "Ho Chi Minh City", "Hoi An", "Nha Trang", "Phu Quoc", "Hue", "Da Lat"]


# --- the write load (a separate process) -------------------------------------------------------------
def write_load(dsn: str, table: str, rate: float, changes: int, batch: int, prefix: str, out: Any) -> None:
    """Commit ``changes`` row changes in transactions of ``batch`` (half INSERT, half UPDATE), at
    ``rate`` changes/s (0 = as fast as possible). Puts (changes, seconds) on ``out``."""
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    rng = random.Random(prefix)
    ids: list[str] = []
    done, n = 0, 0
    inserts = max(1, batch // 2)
    interval = batch / rate if rate else 0.0
    start = next_at = time.monotonic()
    while done < changes:
        rows = []
        for _ in range(inserts):
            n += 1
            rows.append((f"{prefix}-{n:09d}", f"U-{rng.randrange(50_000):05d}", f"S-{rng.getrandbits(40):x}",
                         f"H-{rng.randrange(2000):04d}", rng.choice(CITIES), "2026-03-10", "2026-03-13",
                         rng.randint(1, 4), f"{rng.randint(500_000, 9_000_000)}.00"))
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO {table} (booking_id, user_id, session_id, hotel_id, destination, check_in, check_out,"
                 " guests, amount) VALUES %s", rows, page_size=len(rows))
        updates = rng.sample(ids, min(len(ids), batch - inserts)) if ids else []
        if updates:
            cur.execute(f"UPDATE {table} SET status = 'confirmed', amount = amount + 1, updated_at = now()"
                        " WHERE booking_id = ANY(%s)", (updates,))
        conn.commit()
        ids.extend(r[0] for r in rows)
        done += len(rows) + len(updates)
        if interval:
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    out.put((done, time.monotonic() - start))
    conn.close()


def run_writer(settings: Settings, table: str, rate: float, changes: int, batch: int) -> tuple[Any, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=write_load, args=(settings.pg_dsn(), table, rate, changes, batch,
                                                uuid.uuid4().hex[:6], out), daemon=True)
    proc.start()
    return proc, out


# --- the relay under test --------------------------------------------------------------------------
class NullSink:
    """The relay's sink with no Kafka: encodes as ``EnvelopeSink`` does and acknowledges at once (the decode
    baseline). Only this benchmark uses it, so it lives here, not in the shipped relay."""

    def __init__(self, inflight: InFlight, serde: AvroSerde, topic: str = "topic_cdc_changes") -> None:
        self.inflight, self.header, self.encode = inflight, serde.header(topic), serde.encoder(topic)
        self.acked, self.failure = 0, None

    def send(self, change: Change, unit: Unit | None) -> None:
        self.encode(change[1])
        self.acked += 1
        if unit is not None:
            self.inflight.add(unit)
            self.inflight.ack(unit)

    def send_encoded(self, key: bytes, value: bytes, unit: Unit) -> None:
        self.acked += 1
        self.inflight.add(unit)
        self.inflight.ack(unit)

    def poll(self, timeout: float = 0.0) -> None: ...
    def flush(self, timeout: float) -> None: ...
    def check_topic(self, timeout: float = 10.0) -> None: ...
    def close(self, timeout: float = 10.0) -> None: ...

    def pending(self) -> int:
        return 0


class Bench:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings, self.args = settings, args
        tag = uuid.uuid4().hex[:8]
        self.table, self.slot, self.topic = f"cdc_bench_{tag}", f"cdc_bench_{tag}", f"bench_cdc_{tag}"
        self.admin = make_admin(settings)
        create_topics(settings, {self.topic: 4}, self.admin)
        self.conn = psycopg2.connect(settings.pg_dsn())
        self.conn.autocommit = True
        self.sql(TABLE_DDL.format(t=self.table))
        self.rows: list[dict[str, Any]] = []

    def sql(self, statement: str, params: Any = None) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else None

    def config(self) -> RelayConfig:
        return RelayConfig(slot=self.slot, publication=self.slot, tables=(self.table,), kafka_topic=self.topic,
                           snapshot=False, heartbeat_s=1.0, log_interval=3600, linger_ms=self.args.linger_ms)

    @contextmanager
    def relay(self, null_sink: bool = False) -> Iterator[Relay]:
        factory = (lambda inflight: NullSink(inflight, AvroSerde(self.settings))) \
            if null_sink else None
        relay = Relay(self.config(), self.settings, sink_factory=factory)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        thread.start()
        _wait(lambda: relay.metrics.state == "streaming" or not thread.is_alive(), 60, "the relay to stream")
        if not thread.is_alive():
            raise SystemExit("the relay stopped during start-up (see the log above)")
        try:
            yield relay
        finally:
            stop.set()
            thread.join(120)

    def backlog(self, changes: int) -> None:
        proc, out = run_writer(self.settings, self.table, 0, changes, self.args.batch)
        done, secs = out.get(timeout=600)
        proc.join()
        print(f"  backlog: {done:,} changes written in {secs:.1f} s ({done / secs:,.0f}/s)", file=sys.stderr)

    # -- phases -----------------------------------------------------------------------------------------
    def raw(self) -> None:
        frames: list[bytes] = []
        original = WalStream.read

        def capture(stream: Any) -> bytes | None:
            buf = original(stream)
            if buf is not None and buf[0] == 0x77 and len(frames) < 2_000_000:
                frames.append(buf)
            return buf

        with self.relay(null_sink=True):
            pass  # creates the slot
        self.backlog(self.args.backlog)
        relay_module.WalStream.read = capture  # type: ignore[method-assign,assignment]
        try:
            with self.relay(null_sink=True) as relay:
                start = time.perf_counter()
                _wait(lambda: relay.sink.acked >= self.args.backlog, 300, "the no-Kafka drain")
                secs = time.perf_counter() - start
        finally:
            relay_module.WalStream.read = original  # type: ignore[method-assign]
        n = self.args.backlog
        self.rows.append(_row("stream + transcode, no Kafka (backlog drain)", n, n / secs))
        for name, fn in (("decode only: pgoutput -> dicts (in memory)", _decode_all),
                         ("general: pgoutput -> dicts -> envelopes -> shared encoder", _general_all),
                         ("transcode: pgoutput -> framed Avro (in memory)", _transcode_all)):
            start = time.perf_counter()
            count = fn(frames, self.table)
            self.rows.append(_row(name, count, count / (time.perf_counter() - start)))
        print(f"  raw: {self.rows[-4:]}", file=sys.stderr)

    def maximum(self) -> None:
        self.backlog(self.args.backlog)
        n = self.args.backlog
        with self.relay() as relay:
            start = time.perf_counter()
            _wait(lambda: relay.sink.acked >= n, 600, "the Kafka drain", progress=lambda: relay.sink.acked)
            secs = time.perf_counter() - start
        self.rows.append({**_row("relay max: backlog -> Kafka acked", n, n / secs),
                          "load_1m": round(os.getloadavg()[0], 2)})

    def fixed(self, rates: list[int]) -> None:
        """Each rate ``--repeat`` times; the row holds the median run (by p99), the JSON every run."""
        with self.relay() as relay:
            for rate in rates:
                runs = [self._fixed_once(relay, rate) for _ in range(self.args.repeat)]
                runs.sort(key=lambda r: r["p99_ms"] if r["p99_ms"] is not None else float("inf"))
                row = dict(runs[len(runs) // 2])
                row["p99_ms_runs"] = [round(r["p99_ms"], 1) for r in runs if r["p99_ms"] is not None]
                self.rows.append(row)
                print(f"  {row}", file=sys.stderr)

    def _fixed_once(self, relay: Relay, rate: int) -> dict[str, Any]:
        duration, warmup = self.args.duration, 2.0
        acked0 = relay.sink.acked
        proc, out = run_writer(self.settings, self.table, rate, int(rate * (duration + warmup)), self.args.batch)
        time.sleep(warmup)  # a benchmark pacing itself, not a synchronisation
        samples: list[float] = []
        relay.metrics.samples = samples
        window0, acked_w0 = time.perf_counter(), relay.sink.acked
        done, secs = out.get(timeout=duration * 10 + 60)
        proc.join()
        acked_rate = (relay.sink.acked - acked_w0) / (time.perf_counter() - window0)
        relay.metrics.samples = None
        target = acked0 + done
        _wait(lambda: relay.sink.acked >= target, 120, f"the {rate}/s run to drain")
        row = _row(f"fixed {rate:,}/s: commit -> Kafka ack", done, acked_rate, offered=done / secs, samples=samples)
        row["load_1m"] = round(os.getloadavg()[0], 2)
        return row

    def cleanup(self) -> None:
        self.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                 (self.slot,))
        self.sql(f"DROP PUBLICATION IF EXISTS {self.slot}")
        self.sql("DELETE FROM cdc_relay_state WHERE slot_name = %s", (self.slot,))
        self.sql(f"DROP TABLE IF EXISTS {self.table}")
        delete_topics(self.settings, [self.topic], self.admin)
        self.conn.close()


# --- in-memory decode baselines ------------------------------------------------------------------
_U64 = struct.Struct(">Q").unpack_from


def _decode_all(frames: list[bytes], _table: str) -> int:
    dec, n = Decoder(), 0
    for f in frames:
        dec.decode(f, 25)
        n += f[25] in b"IUD"
    return n


def _general_all(frames: list[bytes], _table: str) -> int:
    """What the relay does without the transcoder: decode, build the envelope, encode it (shared serde)."""
    dec, builder = Decoder(), EnvelopeBuilder("travel", "travel")
    encode = compile_encoder(json.loads(load_catalog().get("topic_cdc_changes").schema_text), b"\x03\x00" + bytes(16))
    tx, n = None, 0
    for f in frames:
        msg = dec.decode(f, 25)
        if isinstance(msg, Relation):
            msg.key = KeySpec(msg.namespace, msg.name, ("booking_id",))
        elif isinstance(msg, Begin):
            tx = builder.begin(msg)
        elif tx is not None and isinstance(msg, Insert | Update | Delete):
            for _key, record, _headers in getattr(builder, type(msg).__name__.lower())(tx, msg, _U64(f, 1)[0]):
                encode(record)
                n += 1
    return n


def _transcode_all(frames: list[bytes], _table: str) -> int:
    dec, builder = Decoder(), EnvelopeBuilder("travel", "travel")
    tc = Transcoder(b"\x03\x00" + bytes(16), "travel", "travel")
    fast = {ord("I"): tc.insert, ord("U"): tc.update, ord("D"): tc.delete}
    tx, n = None, 0
    for f in frames:
        fn = fast.get(f[25])
        if fn is not None and tx is not None and fn(f, 25, tx, _U64(f, 1)[0]) is not None:
            n += 1
            continue
        msg = dec.decode(f, 25)
        if isinstance(msg, Relation):
            msg.key = KeySpec(msg.namespace, msg.name, ("booking_id",))
            tc.relation(msg)
        elif isinstance(msg, Begin):
            tx = builder.begin(msg)
    return n


def _row(case: str, changes: int, rate: float, offered: float | None = None,
         samples: list[float] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"case": case, "changes": changes, "changes_per_s": round(rate, 1)}
    if offered is not None:
        row["offered_per_s"] = round(offered, 1)
    if samples is not None:
        row.update(transactions=len(samples), p50_ms=percentile(samples, 50), p99_ms=percentile(samples, 99),
                   max_ms=max(samples) if samples else None)
    return row


def _wait(cond: Callable[[], Any], timeout: float, what: str, progress: Callable[[], int] | None = None) -> None:
    """``wait_until`` at a 10 ms grain (the drains are timed), with a live count every second."""
    last = [time.monotonic()]

    def check() -> bool:
        if progress is not None and time.monotonic() - last[0] >= 1:
            last[0] = time.monotonic()
            sys.stderr.write(f"\r  {what}: {progress():,}   ")
        return bool(cond())

    try:
        wait_until(check, timeout, what, interval=0.01)
    except NotReadyError as exc:
        raise SystemExit(str(exc)) from None
    if progress is not None:
        sys.stderr.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cdc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,5000,10000,20000", help="fixed rates in changes/s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per fixed-rate run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per fixed rate (the median run is reported)")
    parser.add_argument("--backlog", type=int, default=300_000, help="changes for the raw and max phases")
    parser.add_argument("--batch", type=int, default=20, help="row changes per transaction")
    parser.add_argument("--linger-ms", type=int, default=None, help="producer linger.ms (default: settings)")
    args = parser.parse_args(argv)
    os.environ.setdefault("EB_LOG_LEVEL", "WARNING")
    settings = Settings(profile="local", log_level="WARNING")
    configure_logging(settings)
    ensure_stack()
    bench = Bench(settings, args)
    started = time.time()
    try:
        bench.raw()
        bench.maximum()
        bench.fixed([int(r) for r in args.rates.split(",") if r])
    finally:
        bench.cleanup()
    write_results("cdc", bench.rows, {
        "config": vars(args), "seconds": round(time.time() - started, 1), "loadavg_1m_at_end": os.getloadavg()[0],
        "note": "2-core machine shared with other workloads (PostgreSQL, Kafka, the writer and other sessions)",
        "targets": {"sustained_changes_per_s": 20_000, "p99_ms_at_5000_per_s": 20},
    })
    return 0


if __name__ == "__main__":
    exit_with(main)
