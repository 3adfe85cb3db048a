"""Several worker processes for rates one interpreter cannot reach (the GIL): each runs the whole
scenario with 1/N of every rate and its own stream of sessions, producer and serde; the parent shows
the summed live rates and merges the reports.

    >>> report = run_workers(load_scenario("default", ["speed=max", "count=100000"]), workers=2)
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from lambdas.simulators.exceptions import SimulatorError
from lambdas.simulators.runner import Runner, combined_hash
from lambdas.simulators.scenario import Scenario, validate_scenario


def _worker(doc: dict[str, Any], stream: int, workers: int, seed: int, start_ms: int, q: Any, stop: Any,
            every_s: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into ``stop``
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        runner = Runner(validate_scenario(doc), stream=stream, workers=workers, seed=seed, start_ms=start_ms)
        def relay_stop() -> None:
            stop.wait()
            runner.stop()

        threading.Thread(target=relay_stop, daemon=True).start()
        report = runner.run(on_tick=lambda snap: q.put(("snap", stream, snap)), every_s=every_s)
        q.put(("report", stream, report))
    except BaseException as exc:
        q.put(("error", stream, f"{type(exc).__name__}: {exc}"))


def merge_snapshots(snaps: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Workers' live snapshots summed (counters and target rates add up; lag is the worst)."""
    out: dict[str, Any] = {"elapsed_s": max(s["elapsed_s"] for s in snaps.values()), "sources": {}, "sinks": {}}
    for snap in snaps.values():
        for name, s in snap["sources"].items():
            cur = out["sources"].setdefault(name, {"sink": s["sink"]})
            for k, v in s.items():
                if k == "lag_s":
                    cur[k] = max(cur.get(k, 0.0), v)
                elif isinstance(v, int | float):
                    cur[k] = cur.get(k, 0) + v
        for name, c in snap["sinks"].items():
            cur_sink = out["sinks"].setdefault(name, {})
            for k, v in c.items():
                cur_sink[k] = cur_sink.get(k, 0) + v
    return out


def merge_reports(reports: dict[int, dict[str, Any]]) -> dict[str, Any]:
    first = reports[min(reports)]
    elapsed = max(r["elapsed_s"] for r in reports.values())
    sources: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    sinks: dict[str, dict[str, int]] = {}
    for stream, rep in sorted(reports.items()):
        for name, s in rep["sources"].items():
            cur = sources.setdefault(name, {"emitted": 0, "ops": 0, "target_rate": 0.0, "sink": s["sink"]})
            cur["emitted"] += s["emitted"]
            cur["ops"] += s["ops"]
            cur["target_rate"] += s["target_rate"]
            for k, v in s.items():
                if k not in cur and isinstance(v, int):
                    cur[k] = 0
                if k not in ("emitted", "ops", "target_rate", "rate") and isinstance(v, int):
                    cur[k] += v
            if "sha256" in s:
                hashes[f"{name}#{stream}"] = s["sha256"]
        for name, c in rep["sinks"].items():
            cur_sink = sinks.setdefault(name, {})
            for k, v in c.items():
                cur_sink[k] = cur_sink.get(k, 0) + v
    for s in sources.values():
        s["rate"] = s["emitted"] / elapsed
    return {**first, "workers": len(reports), "elapsed_s": elapsed, "sources": sources, "sinks": sinks,
            "flushed_s": max(r.get("flushed_s", r["elapsed_s"]) for r in reports.values()),
            "emitted": sum(r["emitted"] for r in reports.values()),
            "undelivered": sum(r["undelivered"] for r in reports.values()),
            "errors": [e for r in reports.values() for e in r["errors"]],
            "truth": [r["truth"] for _, r in sorted(reports.items()) if r.get("truth")] or None,  # a run per worker
            "content_sha256": combined_hash(hashes) if hashes else None}


def run_workers(scenario: Scenario, workers: int | None = None, *, seed: int | None = None,
                start_ms: int | None = None, on_tick: Callable[[dict[str, Any]], None] | None = None,
                every_s: float = 2.0, stop: Any = None) -> dict[str, Any]:
    """Run ``scenario`` in ``workers`` processes; the merged report."""
    n = workers or scenario.workers
    seed = seed if seed is not None else (scenario.seed if scenario.seed is not None else _seed())
    start_ms = start_ms if start_ms is not None else scenario.start_ms()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    stop = stop or ctx.Event()
    doc = scenario.model_dump(mode="json")
    procs = [ctx.Process(target=_worker, args=(doc, i, n, seed, start_ms, q, stop, every_s), name=f"sim-worker-{i}")
             for i in range(n)]
    for p in procs:
        p.start()
    reports: dict[int, dict[str, Any]] = {}
    snaps: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    last_show = time.monotonic()
    try:
        while len(reports) + len(errors) < n:
            try:
                kind, stream, payload = q.get(timeout=0.5)
            except queue.Empty:
                if all(not p.is_alive() for p in procs) and q.empty():
                    errors.append("a worker exited without a report (killed?)")
                    break
                continue
            except KeyboardInterrupt:
                stop.set()
                continue
            if kind == "snap":
                snaps[stream] = payload
                if on_tick and len(snaps) == n and time.monotonic() - last_show >= every_s * 0.9:
                    on_tick(merge_snapshots(snaps))
                    last_show = time.monotonic()
            elif kind == "report":
                reports[stream] = payload
            else:
                errors.append(f"worker {stream}: {payload}")
                stop.set()
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
                p.join()
    if not reports:
        raise SimulatorError("; ".join(errors) or "no worker reported")
    merged = merge_reports(reports)
    merged["errors"] = errors + merged["errors"]
    return merged


def _seed() -> int:
    import secrets

    return secrets.randbits(32)
