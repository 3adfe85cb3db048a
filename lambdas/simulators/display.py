"""Live per-source rates and totals on stderr: a redrawn table on a terminal, one line per interval
otherwise (supervisor/Fargate logs), nothing with ``display: off``. Plus the end-of-run summary.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

_NOTES = ("sessions", "bookings", "signups", "incidents", "transitions", "conflicts", "deletions", "desk_failures",
          "failures", "scheduled")


class Display:
    def __init__(self, mode: str = "auto", header: str = "", out: IO[str] | None = None) -> None:
        self.out = out or sys.stderr
        if mode == "auto":
            mode = "tty" if self.out.isatty() else "plain"
        self.mode = mode
        self.header = header
        self._last: tuple[float, dict[str, int]] | None = None
        self._lines = 0

    def _rates(self, snap: dict[str, Any]) -> dict[str, float]:
        now = time.monotonic()
        counts = {n: s["emitted"] for n, s in snap["sources"].items()}
        if self._last is None:
            elapsed = max(snap["elapsed_s"], 1e-9)
            rates = {n: c / elapsed for n, c in counts.items()}
        else:
            t0, before = self._last
            dt = max(now - t0, 1e-9)
            rates = {n: (c - before.get(n, 0)) / dt for n, c in counts.items()}
        self._last = (now, counts)
        return rates

    def show(self, snap: dict[str, Any]) -> None:
        if self.mode == "off":
            return
        rates = self._rates(snap)
        if self.mode == "plain":
            parts = [f"{n} {rates[n]:,.1f}/s ({s['emitted']:,})" for n, s in snap["sources"].items()]
            sinks = " ".join(f"{k}[ok={c['delivered']:,} failed={c['failed']} retries={c['retries']}]"
                             for k, c in snap["sinks"].items())
            total = sum(rates.values())
            self.out.write(f"[simulators] t={snap['elapsed_s']:.0f}s total {total:,.1f}/s | "
                           + " | ".join(parts) + f" | {sinks}\n")
            self.out.flush()
            return
        lines = [f" {self.header}  t={_clock(snap['elapsed_s'])}",
                 f" {'source':<12} {'sink':<8} {'target/s':>10} {'actual/s':>10} {'total':>12} {'lag':>6}  notes"]
        for n, s in snap["sources"].items():
            notes = " ".join(f"{k}={s[k]:,}" for k in _NOTES if s.get(k))
            lines.append(f" {n:<12} {s['sink']:<8} {s['target_rate']:>10,.2f} {rates[n]:>10,.1f} {s['emitted']:>12,} "
                         f"{s['lag_s']:>5.1f}s  {notes}")
        target = sum(s["target_rate"] for s in snap["sources"].values())
        total = sum(s["emitted"] for s in snap["sources"].values())
        lines.append(f" {'total':<12} {'':<8} {target:>10,.2f} {sum(rates.values()):>10,.1f} {total:>12,}")
        for k, c in snap["sinks"].items():
            lines.append(f" sink {k}: delivered={c['delivered']:,} failed={c['failed']:,} rejected={c['rejected']:,} "
                         f"retries={c['retries']:,} pending={c['pending']:,}")
        if self._lines:
            self.out.write(f"\x1b[{self._lines}F\x1b[J")  # back to the top of the previous table
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._lines = len(lines)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def summary(report: dict[str, Any]) -> str:
    """The end-of-run table (what was emitted, delivered, and the content hash)."""
    lines = [f"scenario {report['scenario']}  seed={report['seed']}  start_ms={report['start_ms']}  "
             f"workers={report['workers']}  speed={report['speed']}  elapsed={report['elapsed_s']:.1f}s",
             f"{'source':<12} {'sink':<10} {'emitted':>12} {'rate/s':>12} {'target/s':>10}  sha256"]
    for n, s in report["sources"].items():
        lines.append(f"{n:<12} {s['sink']:<10} {s['emitted']:>12,} {s['rate']:>12,.1f} {s['target_rate']:>10,.2f}  "
                     f"{s.get('sha256', '-')[:16]}")
    lines.append(f"{'total':<12} {'':<10} {report['emitted']:>12,} {report['emitted'] / report['elapsed_s']:>12,.1f}")
    for k, c in report["sinks"].items():
        lines.append(f"sink {k}: " + " ".join(f"{a}={b:,}" for a, b in c.items()))
    if report.get("content_sha256"):
        lines.append(f"content sha256: {report['content_sha256']}")
    if report["undelivered"]:
        lines.append(f"UNDELIVERED: {report['undelivered']:,} event(s) — see the sink lines above")
    for err in report["errors"]:
        lines.append(f"ERROR: {err}")
    return "\n".join(lines)
