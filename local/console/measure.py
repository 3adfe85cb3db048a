"""The console's own cost on the running stack: CPU and memory of its process, and page load times.

    python -m local.console.measure                       # against the stack's console on :8088
    python -m local.console.measure --screenshots docs/console

Page load = navigation start until the page's first data is on screen (``body[data-loaded]``), in
headless Debian chromium; each page is loaded ``--runs`` times and the median and max are reported,
beside the same page's API call alone (the raw baseline: what the server spends). CPU = the
console process's user+system CPU seconds over an idle window (only its end-offset sampler runs)
and over the page loads, from /proc. The table goes to stdout and JSON to bench/results/console.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from eventbus.cli import exit_with
from local.stack.health import port_owner

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PAGES = {"topics": "/api/topics", "messages": "/api/topics/topic_app_events/messages?limit=50",
         "lag": "/api/lag", "sources": "/api/sources", "follow": None}


def _proc(pid: int) -> tuple[float, int]:
    """(CPU seconds user+system, RSS bytes) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(int(line.split()[1]) * 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return cpu, rss


def _console_pid(port: int) -> int:
    owner = port_owner(port)
    if "pid " not in owner:
        raise SystemExit(f"nothing listens on 127.0.0.1:{port} — `make local-up` (or `make console`) first")
    return int(owner.split("pid ")[1].split(")")[0])


def _get_ms(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        resp.read()
    return (time.perf_counter() - t0) * 1000


def main(argv: list[str] | None = None) -> int:
    doc = (__doc__ or "").split("\n\n", 1)
    p = argparse.ArgumentParser(prog="python -m local.console.measure", description=doc[0], epilog=doc[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--idle-s", type=float, default=60.0, help="idle window for the sampler's CPU (default 60)")
    p.add_argument("--screenshots", type=Path, help="also save a PNG of each page into this folder")
    p.add_argument("--follow", default="", help="KIND=ID to follow (default: a recently created booking)")
    args = p.parse_args(argv)
    base = f"http://127.0.0.1:{args.port}"
    pid = _console_pid(args.port)
    follow = args.follow
    if not follow:
        recs = json.loads(urllib.request.urlopen(
            base + "/api/topics/topic_app_events/messages?limit=5&where=event_type=booking_created", timeout=30).read())
        if not recs["records"]:
            raise SystemExit("no booking_created app event yet — give --follow KIND=ID")
        follow = "booking_id=" + recs["records"][-1]["value"]["booking_id"]
    kind, _, ident = follow.partition("=")
    PAGES["follow"] = f"/api/follow?kind={kind}&id={ident}"
    hashes = {name: name if name != "follow" else f"follow?kind={kind}&id={ident}" for name in PAGES}

    cpu0, rss0 = _proc(pid)
    time.sleep(args.idle_s)
    cpu1, rss1 = _proc(pid)
    from playwright.sync_api import sync_playwright

    loads: dict[str, list[float]] = {n: [] for n in PAGES}
    apis: dict[str, list[float]] = {n: [] for n in PAGES}
    t_load0 = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for _ in range(args.runs):
            for name, h in hashes.items():
                page.goto("about:blank")
                t0 = time.perf_counter()
                page.goto(f"{base}/#{h}")
                page.wait_for_function(f"document.body.dataset.loaded === {name!r}", timeout=60_000)
                loads[name].append((time.perf_counter() - t0) * 1000)
                apis[name].append(_get_ms(base + str(PAGES[name])))
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            for name, h in hashes.items():
                page.goto("about:blank")
                page.goto(f"{base}/#{h}")
                page.wait_for_function(f"document.body.dataset.loaded === {name!r}", timeout=60_000)
                if name == "topics":
                    page.wait_for_timeout(300)
                if name == "lag":  # a few refreshes: points on the CDC lag chart
                    page.wait_for_timeout(16_000)
                page.screenshot(path=str(args.screenshots / f"{name}.png"))
        browser.close()
    load_s = time.monotonic() - t_load0
    cpu2, rss2 = _proc(pid)
    result: dict[str, Any] = {
        "pid": pid, "idle_window_s": args.idle_s,
        "idle_cpu_pct": round(100 * (cpu1 - cpu0) / args.idle_s, 2),
        "load_window_s": round(load_s, 1), "load_cpu_pct": round(100 * (cpu2 - cpu1) / load_s, 1),
        "rss_mb": {"start": round(rss0 / 2**20, 1), "after_idle": round(rss1 / 2**20, 1),
                   "after_loads": round(rss2 / 2**20, 1)},
        "pages": {n: {"load_ms_median": round(statistics.median(v), 1), "load_ms_max": round(max(v), 1),
                      "api_ms_median": round(statistics.median(apis[n]), 1)} for n, v in loads.items()},
        "runs": args.runs, "follow": follow,
    }
    print(f"console pid {pid}: idle CPU {result['idle_cpu_pct']}% over {args.idle_s:.0f}s, "
          f"CPU {result['load_cpu_pct']}% during {result['load_window_s']}s of page loads, RSS {result['rss_mb']} MB")
    print(f"{'page':<10} {'load median ms':>15} {'load max ms':>12} {'API alone ms':>13}")
    for n, r in result["pages"].items():
        print(f"{n:<10} {r['load_ms_median']:>15} {r['load_ms_max']:>12} {r['api_ms_median']:>13}")
    out = REPO / "bench" / "results" / "console.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    exit_with(main)
