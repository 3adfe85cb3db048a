"""Helpers shared by the integration tests and the benchmarks (``tests/`` is in no package or artifact):
scratch topics, a free loopback port, the real gateway process on one. Polling is
``local.stack.health.wait_until``; HTTP probes are ``local.stack.health.http_get``.

    >>> with scratch_topics(settings, {"t_cdc_x": 4}), served_gateway(workers=2) as url:
    ...     ...
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.stack.health import http_get, wait_until

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- scratch topics ------------------------------------------------------------------------------
def create_topics(
    settings: Any, partitions: dict[str, int], admin: Any = None, configs: dict[str, dict[str, str]] | None = None
) -> None:
    """Create each topic with its partition count (replication 1: the local broker) and optional topic
    configs (e.g. ``{"t_x": {"cleanup.policy": "compact"}}``); raises on failure."""
    from confluent_kafka.admin import NewTopic

    from eventbus.kafka import make_admin

    admin = admin or make_admin(settings)
    new = [NewTopic(name, n, 1, config=(configs or {}).get(name, {})) for name, n in partitions.items()]
    for fut in admin.create_topics(new, operation_timeout=30).values():
        fut.result()


def delete_topics(settings: Any, names: list[str], admin: Any = None, timeout: float = 30.0) -> None:
    """Delete the topics that exist and wait until the broker no longer lists them."""
    from eventbus.kafka import make_admin

    admin = admin or make_admin(settings)
    gone = [n for n in names if n in admin.list_topics(timeout=10).topics]
    if not gone:
        return
    for fut in admin.delete_topics(gone, operation_timeout=30).values():
        fut.result()
    wait_until(lambda: not set(gone) & set(admin.list_topics(timeout=10).topics), timeout,
               f"topics {gone} to be deleted", interval=0.2)


@contextmanager
def scratch_topics(settings: Any, partitions: dict[str, int], admin: Any = None) -> Iterator[list[str]]:
    """Topics that exist for the block only (name them after your area, e.g. ``t_cdc_...``)."""
    create_topics(settings, partitions, admin)
    try:
        yield list(partitions)
    finally:
        delete_topics(settings, list(partitions), admin)


# --- the gateway as a process --------------------------------------------------------------------
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
            answer = http_get(url + "/ready")
            return answer is not None and answer[0] == 200

        def exited() -> str | None:
            return f"the gateway exited with {proc.returncode} (log: {log_path})" if proc.poll() is not None else None

        wait_until(ready, ready_timeout, f"gateway at {url}", interval=0.1, abort=exited)
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


def inject_fatal(producer: Any, reason: str = "injected: sequence desynchronization") -> None:
    """librdkafka's own two steps on a fatal error (rdkafka.c ``rd_kafka_set_fatal_error0``) on the
    project's ``Producer``: the error reaches ``error_cb``, and the client purges its queue (in-flight
    requests keep their real outcome). The Python binding cannot make a real broker desynchronize on
    demand (``rd_kafka_test_fatal_error`` is C-only)."""
    from confluent_kafka import KafkaError

    producer._conf["error_cb"](KafkaError(KafkaError._FATAL, reason, fatal=True))
    producer.raw.purge(in_queue=True, in_flight=False)
