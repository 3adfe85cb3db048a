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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.health import wait_until

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

        wait_until(ready, ready_timeout, f"gateway at {url}", interval=0.1)
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


