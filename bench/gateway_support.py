"""Shared by the gateway benchmark, drill and integration tests: run the real gateway process
(``python -m lambdas.gateway``) on a free port, and read back what reached ``topic_app_events``.

    with served_gateway(workers=2) as url:
        before = end_offsets(settings)
        ...                                     # post events
        for key, record in read_range(settings, before, end_offsets(settings)): ...
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from eventbus.kafka import make_consumer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings

TOPIC = "topic_app_events"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes] | None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s")


@contextmanager
def served_gateway(
    workers: int = 2, env: dict[str, str] | None = None, log_path: Path | None = None, ready_timeout: float = 60.0
) -> Iterator[str]:
    """``python -m lambdas.gateway`` on a free loopback port until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "EB_PROFILE": "local",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "EB_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    log: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "lambdas.gateway", "--port", str(port), "--workers", str(workers)],
        cwd=REPO,
        env=full_env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {proc.returncode} (log: {log_path})")
            answer = http_get(url + "/ready")
            return answer is not None and answer[0] == 200

        wait_for(ready, ready_timeout, f"gateway ready at {url}")
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn stops its workers; the app flushes
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if log is not subprocess.DEVNULL:
            log.close()


def end_offsets(settings: Settings, topic: str = TOPIC) -> dict[int, int]:
    """High watermark of every partition."""
    consumer = make_consumer(settings, group_id="gateway-bench-offsets")
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def read_range(
    settings: Settings,
    start: dict[int, int],
    end: dict[int, int],
    topic: str = TOPIC,
    timeout: float = 120.0,
    containing: bytes | None = None,
) -> Iterator[tuple[bytes | None, dict[str, Any]]]:
    """Every (key, decoded record) between ``start`` and ``end`` offsets (only those whose raw value
    contains ``containing``, when given: a cheap filter on a topic other writers share)."""
    pending = {p: o for p, o in end.items() if o > start.get(p, 0)}
    if not pending:
        return
    serde = AvroSerde(settings)
    consumer = make_consumer(settings, group_id=f"gateway-bench-read-{os.getpid()}", **{"enable.partition.eof": False})
    try:
        consumer.assign([TopicPartition(topic, p, start.get(p, 0)) for p in pending])
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} up to {end} within {timeout:.0f}s (still {pending})")
            for msg in consumer.consume(10_000, 1.0):
                if msg.error():
                    continue
                p, offset, value = msg.partition(), msg.offset() or 0, msg.value() or b""
                if p is not None and p in pending and offset < pending[p]:
                    if containing is None or containing in value:
                        yield msg.key(), serde.decode(value)
                    if offset + 1 >= pending[p]:
                        del pending[p]
    finally:
        consumer.close()
