"""make bench-kafka: serde encode/decode rates and producer throughput through the shared factory,
each beside a bare confluent-kafka producer on the same broker in the same run.

    python -m bench.kafka --messages 200000
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from collections.abc import Callable

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from bench.common import Progress, ensure_stack, write_results
from eventbus.cli import exit_with
from eventbus.kafka import Producer, make_admin
from eventbus.kafka.config import producer_config
from eventbus.serde import AvroSerde
from eventbus.settings import Settings

BENCH_TOPIC = "bench_kafka"


def _app_log(i: int) -> dict:
    return {
        "log_id": f"log-{i}", "ts": 1_700_000_000_000 + i, "service": f"svc-{i % 8}", "host": "ip-10-0-1-7",
        "level": "INFO", "logger": "booking.api", "message": "GET /bookings/42 200",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "user_id": f"u-{i % 5000}",
        "session_id": None, "http_method": "GET", "path": "/bookings/42", "status_code": 200,
        "latency_ms": 12.5, "stack_trace": None, "attributes": {"region": "ap-southeast-1"},
    }


def bench_serde(serde: AvroSerde, n: int) -> list[dict]:
    records = [_app_log(i) for i in range(n)]
    t0 = time.perf_counter()
    encoded = [serde.encode("topic_app_logs", r) for r in records]
    enc_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for data in encoded:
        serde.decode(data)
    dec_s = time.perf_counter() - t0
    size = sum(map(len, encoded)) / n
    return [
        {"case": "serde encode (AppLog)", "records": n, "rate_per_s": n / enc_s, "avg_bytes": size},
        {"case": "serde decode (AppLog)", "records": n, "rate_per_s": n / dec_s, "avg_bytes": size},
    ]


def _timed_produce(produce: Callable[[bytes, str], None], poll: Callable[[float], object],
                   flush: Callable[[], object], payloads: list[bytes], label: str) -> float:
    progress = Progress(label, len(payloads))
    t0 = time.perf_counter()
    for i, value in enumerate(payloads):
        produce(value, f"svc-{i % 8}")
        if i % 10_000 == 0:
            poll(0)
            progress.update(i)
    flush()
    progress.update(len(payloads))
    return time.perf_counter() - t0


def bench_producers(settings: Settings, serde: AvroSerde, n: int) -> list[dict]:
    payloads = [serde.encode("topic_app_logs", _app_log(i)) for i in range(n)]
    mb = sum(map(len, payloads)) / 1e6
    rows = []

    # Raw baseline: a bare confluent-kafka producer with the same contract (idempotent, acks=all, lz4).
    conf = producer_config(settings, "bench-raw", {})
    failures: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            failures.append(err)

    conf["on_delivery"] = on_delivery
    raw = confluent_kafka.Producer(conf)

    def raw_produce(v: bytes, k: str) -> None:
        while True:
            try:
                raw.produce(BENCH_TOPIC, v, k)
                return
            except BufferError:
                raw.poll(0.05)

    secs = _timed_produce(raw_produce, raw.poll, lambda: raw.flush(60), payloads, "bare confluent-kafka")
    assert not failures, failures[:3]
    rows.append({"case": "bare confluent-kafka producer (pre-built bytes)", "records": n,
                 "rate_per_s": n / secs, "MB_per_s": mb / secs})

    shared = Producer(settings, client_id="bench-shared")
    secs = _timed_produce(lambda v, k: shared.produce(BENCH_TOPIC, v, k), shared.poll,
                          lambda: shared.flush(60), payloads, "eventbus Producer")
    rows.append({"case": "eventbus Producer (pre-built bytes)", "records": n,
                 "rate_per_s": n / secs, "MB_per_s": mb / secs, "acked": shared.delivered})

    records = [_app_log(i) for i in range(n)]
    e2e = Producer(settings, client_id="bench-e2e")
    progress = Progress("encode + eventbus Producer", n)
    t0 = time.perf_counter()
    for i, rec in enumerate(records):
        e2e.produce(BENCH_TOPIC, serde.encode("topic_app_logs", rec), rec["service"])
        if i % 10_000 == 0:
            e2e.poll(0)
            progress.update(i)
    e2e.flush(60)
    secs = time.perf_counter() - t0
    progress.update(n)
    rows.append({"case": "serde encode + eventbus Producer", "records": n, "rate_per_s": n / secs,
                 "MB_per_s": mb / secs, "acked": e2e.delivered})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kafka", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000, help="messages per producer case")
    parser.add_argument("--serde-records", type=int, default=100_000, help="records for the serde cases")
    args = parser.parse_args(argv)

    ensure_stack()
    settings = Settings()
    admin = make_admin(settings)
    for fut in admin.delete_topics([BENCH_TOPIC]).values():  # a previous run's leftovers
        with contextlib.suppress(KafkaException):  # absent: nothing to delete
            fut.result()
    deadline = time.monotonic() + 30
    while BENCH_TOPIC in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    admin.create_topics([NewTopic(BENCH_TOPIC, 8, 1)])[BENCH_TOPIC].result()
    try:
        serde = AvroSerde(settings)
        rows = bench_serde(serde, args.serde_records)
        rows += bench_producers(settings, serde, args.messages)
    finally:
        for fut in admin.delete_topics([BENCH_TOPIC]).values():
            fut.result()
    raw_rate = rows[2]["rate_per_s"]
    for r in rows[3:]:
        r["vs_bare"] = f"{r['rate_per_s'] / raw_rate:.0%}"
    write_results("kafka", rows, {"topic": BENCH_TOPIC, "partitions": 8, "run_id": str(uuid.uuid4())})
    return 0


if __name__ == "__main__":
    exit_with(main)
