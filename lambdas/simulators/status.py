"""Opt-in HTTP status of a running simulator: ``GET 127.0.0.1:PORT/status`` -> per-source counts and rates.

    python -m lambdas.simulators run --status-port 9188      # the local stack's program does this
    curl -s 127.0.0.1:9188/status
    {"elapsed_s": 61.2, "sources": {"mobile": {"emitted": 310, "rate_per_s": 5.1, "target_per_s": 5.0, ...}}, ...}

``rate_per_s`` is the growth of ``emitted`` over the last ``WINDOW_S`` seconds (sampled every
``SAMPLE_S``); ``target_per_s`` is the schedule's current rate. The console's Sources page reads it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from eventbus.status_server import StatusServer as HttpStatus
from eventbus.status_server import json_route
from lambdas.simulators.exceptions import ScenarioError

WINDOW_S = 60.0
SAMPLE_S = 5.0


class StatusServer:
    """Serves ``snapshot()`` (a Runner's, or the latest one handed to ``update``) as JSON."""

    def __init__(self, port: int, snapshot: Callable[[], dict[str, Any] | None] | None = None,
                 host: str = "127.0.0.1") -> None:
        self._snapshot_fn = snapshot
        self._latest: dict[str, Any] | None = None
        self._history: deque[tuple[float, dict[str, int]]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.http = HttpStatus({"/status": json_route(self.status)}, port, host, name="sim-status")
        self.port = self.http.port

    def start(self) -> StatusServer:
        self.http.start()
        threading.Thread(target=self._sample, name="sim-status-sampler", daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()
        self.http.close()

    def update(self, snap: dict[str, Any]) -> None:
        """For callers without a live snapshot function (several worker processes): the latest tick."""
        self._latest = snap

    def _current(self) -> dict[str, Any] | None:
        return self._snapshot_fn() if self._snapshot_fn is not None else self._latest

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def sample(self, now: float | None = None) -> None:
        """Remember the emitted counts now (the rate window's points)."""
        snap = self._current()
        if snap:
            now = time.monotonic() if now is None else now
            with self._lock:
                self._history.append((now, {n: int(s.get("emitted", 0)) for n, s in snap["sources"].items()}))
                while self._history and now - self._history[0][0] > WINDOW_S:
                    self._history.popleft()

    def status(self, now: float | None = None) -> dict[str, Any]:
        snap = self._current() or {"elapsed_s": 0.0, "sources": {}, "sinks": {}}
        now = time.monotonic() if now is None else now
        with self._lock:
            first = self._history[0] if self._history else None
        out = {}
        for name, s in snap["sources"].items():
            rate = None
            if first is not None and now - first[0] > 0.5:
                rate = round((int(s.get("emitted", 0)) - first[1].get(name, 0)) / (now - first[0]), 3)
            out[name] = {"emitted": s.get("emitted"), "rate_per_s": rate, "target_per_s": s.get("target_rate"),
                         "sink": s.get("sink"), "lag_s": s.get("lag_s")}
        return {"pid": os.getpid(), "elapsed_s": snap.get("elapsed_s"), "window_s": WINDOW_S, "sources": out,
                "sinks": snap.get("sinks", {})}


def serve(port: int, snapshot: Callable[[], dict[str, Any] | None] | None = None) -> StatusServer | None:
    """A started ``StatusServer`` on 127.0.0.1:``port``, or None when ``port`` is 0 (off); a port that cannot
    be bound (taken, privileged) is a ``ScenarioError`` naming the flag, before the run starts."""
    if not port:
        return None
    try:
        return StatusServer(port, snapshot).start()
    except OSError as exc:
        raise ScenarioError(f"--status-port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror}) — "
                            "pick another port, or 0 (off)") from None


def ticking(status: StatusServer | None, show: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """``show``, also handing each snapshot to ``status`` (when there is one)."""
    if status is None:
        return show

    def tick(snap: dict[str, Any]) -> None:
        status.update(snap)
        show(snap)

    return tick
