"""Helpers every benchmark uses: results table + JSON, live progress, the stack check."""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def scratch_dir(prefix: str) -> Path:
    """A temporary folder removed when this process exits: a benchmark's checkpoints and lake files are of no
    use after its figures are written (the drills keep theirs: their failure messages point at the logs there)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def machine() -> dict[str, Any]:
    load1, _, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_1m_at_start": round(load1, 2)}


def write_results(name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    """Print a table of ``rows`` and write them to bench/results/<name>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine(), "rows": rows, **(extra or {})}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    cols = list(dict.fromkeys(k for r in rows for k in r))
    fmt = [max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in cols]
    print()
    print("  ".join(c.ljust(w) for c, w in zip(cols, fmt, strict=True)))
    print("  ".join("-" * w for w in fmt))
    for r in rows:
        print("  ".join(_cell(r.get(c)).ljust(w) for c, w in zip(cols, fmt, strict=True)))
    print(f"\nwrote {path}")
    return path


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if v >= 100 else f"{v:.3f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


class Progress:
    """Prints a live rate line to stderr at most every ``every`` seconds."""

    def __init__(self, label: str, total: int, every: float = 1.0) -> None:
        self.label, self.total, self.every = label, total, every
        self.start = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every or done == self.total:
            self.last = now
            rate = done / max(now - self.start, 1e-9)
            sys.stderr.write(f"\r  {self.label}: {done:,}/{self.total:,}  {rate:,.0f}/s   ")
            sys.stderr.flush()
            if done == self.total:
                sys.stderr.write("\n")


def ensure_stack() -> None:
    """Hold the local stack for this process (benchmarks run against the real broker).

    Starts it when it is not running and, in that case only, stops it again when the process exits;
    a stack started with `make local-up` stays up.
    """
    from local.stack.control import session

    lease = session()
    lease.__enter__()
    atexit.register(lease.__exit__, None, None, None)
