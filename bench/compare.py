"""make bench-compare: the same benchmarks on an earlier commit and on this tree, in one run, alternating.

A refactor should not cost speed. This checks out ``--base`` into a git worktree (no build: the
worktree's modules run with this checkout's interpreter and its running stack, so both sides share one
environment), then
runs each benchmark module base, head, base, head … against the running stack, and prints every row's
figures side by side with head/base. Both sides run on the same machine minutes apart, so the noise
between them is the noise between two runs of one side (``--rounds 2`` shows it).

    python -m bench.compare --base e753f94 --benches kafka,simulators --args "simulators=--skip-rate"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

from bench.common import ensure_stack, write_results
from eventbus.cli import exit_with
from eventbus.paths import REPO_ROOT, local_state_dir

#: the figures compared per row: rates, latencies and ratios to a baseline (counts and durations are not)
FIGURE = re.compile(r"per_s|_ms$|^vs_|^p\d+")


# Runs one bench module as __main__ in either tree. The running stack is this tree's (held by main()); a
# bench's own ensure_stack() — or, in an older tree, local.stack[.control].session() — would re-provision it
# with the other tree's catalog on every switch, so both sides skip it. alter_sys: __main__ is the bench
# module, so multiprocessing's spawned workers can import it.
RUNNER = """
import contextlib, importlib, runpy, sys
import bench.common
bench.common.ensure_stack = lambda: None
for name in ("local.stack", "local.stack.control"):
    try:
        module = importlib.import_module(name)
    except ImportError:
        continue
    if hasattr(module, "session"):
        module.session = lambda *a, **k: contextlib.nullcontext()
sys.argv = ["bench.{bench}", *sys.argv[1:]]
runpy.run_module("bench.{bench}", run_name="__main__", alter_sys=True)
"""


def worktree(rev: str) -> Path:
    """A detached worktree of ``rev`` under /tmp (reused when it is already there at that commit)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO_ROOT, text=True,
                         capture_output=True)
    if sha.returncode:
        raise SystemExit(f"bench-compare: {rev!r} is not a commit here — pass --base <commit or tag>")
    path = Path("/tmp") / f"eb-bench-base-{sha.stdout.strip()[:12]}"
    if not (path / ".git").exists():
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(path), sha.stdout.strip()],
                       cwd=REPO_ROOT, check=True, capture_output=True)
    return path


def run_one(tree: Path, bench: str, args: list[str]) -> list[dict[str, Any]]:
    """Run ``python -m bench.<bench>`` in ``tree``; its rows from the JSON it writes."""
    out = tree / "bench" / "results" / f"{bench}.json"
    out.unlink(missing_ok=True)
    t0 = time.monotonic()
    print(f"--- {bench} @ {tree.name if tree != REPO_ROOT else 'HEAD (this tree)'} {' '.join(args)}", flush=True)
    # Both sides use this checkout's running stack: the base tree would otherwise look for its own.
    env = {**os.environ, "EB_LOCAL_STATE_DIR": str(local_state_dir())}
    runner = RUNNER.format(bench=bench)
    proc = subprocess.run([sys.executable, "-c", runner, *args], cwd=tree, env=env)
    if proc.returncode or not out.exists():
        raise SystemExit(f"bench-compare: bench.{bench} failed in {tree} (exit {proc.returncode}) — see above")
    print(f"    {time.monotonic() - t0:.0f} s", flush=True)
    return result_rows(json.loads(out.read_text()))


def result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a bench's JSON: ``rows`` (bench.common.write_results), or — bench.gateway's own format —
    one row per entry of ``runs`` plus its ``raw_producer`` baseline."""
    if "rows" in result:
        return list(result["rows"])
    rows = [{"case": name, **run} for name, run in result.get("runs", {}).items()]
    if isinstance(result.get("raw_producer"), dict):
        rows.insert(0, {"case": "raw producer", **result["raw_producer"]})
    if not rows:
        raise SystemExit(f"bench-compare: no rows or runs in the result (keys: {sorted(result)})")
    return rows


def label(row: dict[str, Any]) -> str:
    for key in ("what", "case", "name", "source", "rate"):
        if key in row:
            return str(row[key])
    return json.dumps({k: v for k, v in row.items() if isinstance(v, str)})


def compare(base_runs: list[list[dict[str, Any]]], head_runs: list[list[dict[str, Any]]],
            bench: str) -> list[dict[str, Any]]:
    """One row per (row label, figure): the median of each side's rounds and head/base."""
    def by_label(runs: list[list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for rows in runs:
            for r in rows:
                out.setdefault(label(r), []).append(r)
        return out

    base, head = by_label(base_runs), by_label(head_runs)
    rows = []
    for name in [n for n in base if n in head]:
        figures = dict.fromkeys(k for r in base[name] + head[name] for k in r if FIGURE.search(k))
        for fig in figures:
            b = [float(r[fig]) for r in base[name] if isinstance(r.get(fig), int | float)]
            h = [float(r[fig]) for r in head[name] if isinstance(r.get(fig), int | float)]
            if b and h:
                mb, mh = median(b), median(h)
                rows.append({"bench": bench, "row": name[:60], "figure": fig, "base": round(mb, 1),
                             "head": round(mh, 1), "head/base": round(mh / mb, 3) if mb else None,
                             "base runs": ", ".join(f"{x:g}" for x in b), "head runs": ", ".join(f"{x:g}" for x in h)})
    missing = sorted(set(base) ^ set(head))
    if missing:
        print(f"    rows only on one side (not compared): {missing}")
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="the earlier commit (sha, tag, branch)")
    p.add_argument("--benches", default="kafka,simulators,gateway",
                   help="comma-separated bench modules: kafka, simulators, gateway, cdc, spark (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=1, help="base+head pairs per bench (default: %(default)s)")
    p.add_argument("--args", action="append", default=[], metavar="BENCH=ARGS",
                   help='extra arguments for one bench, e.g. "gateway=--seconds 10" (repeatable)')
    a = p.parse_args(argv)
    extra = {k: shlex.split(v) for k, _, v in (x.partition("=") for x in a.args)}
    ensure_stack()  # this tree's stack, held for the whole comparison
    base_tree = worktree(a.base)
    rows: list[dict[str, Any]] = []
    for bench in [b.strip() for b in a.benches.split(",") if b.strip()]:
        base_runs, head_runs = [], []
        for _ in range(a.rounds):
            base_runs.append(run_one(base_tree, bench, extra.get(bench, [])))
            head_runs.append(run_one(REPO_ROOT, bench, extra.get(bench, [])))
        rows.extend(compare(base_runs, head_runs, bench))
    if not rows:
        raise SystemExit("bench-compare: no row was measured on both sides")
    write_results("compare", rows, {"base": a.base, "base_tree": str(base_tree), "rounds": a.rounds})
    return 0


if __name__ == "__main__":
    exit_with(main)
