"""Polling with deadlines (never fixed sleeps) and small probes: TCP ports, HTTP, port owners."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from local.stack.exceptions import NotReadyError


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    interval: float = 0.25,
    abort: Callable[[], str | None] | None = None,
) -> float:
    """Poll ``check`` until it returns True; returns the seconds it took.

    ``abort`` is polled too: a non-empty string from it ends the wait early with that reason
    (e.g. "kafka exited"). Raises ``NotReadyError`` naming ``what`` when the deadline passes.
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if _safe(check):
            return time.monotonic() - start
        if abort is not None and (reason := abort()):
            raise NotReadyError(f"{what}: {reason}")
        if time.monotonic() >= deadline:
            raise NotReadyError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(interval)


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str:
    """Who listens on ``port`` (``ss`` output: process name and pid), or "unknown process"."""
    if shutil.which("ss"):
        out = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
        ).stdout.strip()
        owners = re.findall(r'"([^"]+)",pid=(\d+)', out)
        if owners:
            return ", ".join(f"{name} (pid {pid})" for name, pid in dict.fromkeys(owners))
    return "unknown process"


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str] | None:
    """(status, body) of a GET, or None when nothing answers."""
    return _http(urllib.request.Request(url), timeout)


def http_post(url: str, timeout: float = 2.0) -> tuple[int, str] | None:
    """(status, body) of an empty POST, or None when nothing answers."""
    return _http(urllib.request.Request(url, data=b"", method="POST"), timeout)


def _http(request: urllib.request.Request, timeout: float) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, ValueError):
        return None
