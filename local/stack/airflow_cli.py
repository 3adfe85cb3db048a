"""``python -m local.stack.airflow_cli``: run a DAG once, use the Airflow CLI, or check the stack's Airflow.

    python -m local.stack.airflow_cli dag weather_data_ingestion 2026-01-15T06:00:00Z  # dag.test(), one run
    python -m local.stack.airflow_cli airflow dags list        # any airflow command
    python -m local.stack.airflow_cli check                    # trigger all 3, wait, measure
    python -m local.stack.airflow_cli restart                  # the Airflow programs again (local/stack/airflow.py)
    python -m local.stack.airflow_cli backfill-check           # 3 days of weather, 1-slot pool: concurrency

``dag`` runs against the replay server, Kafka and the emulator's S3 of the running stack, with its
metadata in the ``airflow_test`` database (no scheduler there to race with ``dag.test()``).
``check`` asks the stack's api-server (127.0.0.1:8080) to run each DAG and waits for the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from eventbus.cli import exit_with
from local.stack import airflow
from local.stack.control import context
from local.stack.exceptions import StackError

DAG_IDS = ("weather_data_ingestion", "maps_data_ingestion", "config_driven_pipeline")


def _need_airflow() -> None:
    if not airflow.installed():
        raise StackError(f"{airflow.AIRFLOW} is missing — run `make install` (it creates .venv-airflow)")


def dag_env(database: str = "airflow_test", **extra: str) -> dict[str, str]:
    """Environment of a ``dag.test()`` run (PYTHONPATH = the DAGs folder, as Airflow and MWAA have it)."""
    ctx = context()
    airflow.create_databases(ctx)
    airflow.migrate(ctx, database)
    return {**os.environ, **airflow.airflow_env(ctx, database), "PYTHONPATH": str(airflow.DAGS_DIR), **extra}


def run_dags(pairs: list[tuple[str, str]], env: dict[str, str] | None = None,
             timeout: float = 900) -> tuple[int, list[dict[str, Any]], str]:
    """Run each (DAG id, logical date) with ``dag.test()``, in one .venv-airflow process (one Airflow
    import for all): (exit code, the runs' JSON summaries in order, the whole output)."""
    _need_airflow()
    proc = subprocess.run(
        [str(airflow.VENV / "bin" / "python"), "-m", "extdata.cli", "test", *[x for p in pairs for x in p]],
        env=env or dag_env(), capture_output=True, text=True, timeout=timeout, cwd=airflow.REPO_ROOT,
        check=False,
    )
    out = proc.stdout + proc.stderr
    summaries = [json.loads(line.split(" ", 1)[1]) for line in out.splitlines() if line.startswith("DAG_RUN ")]
    return proc.returncode, summaries, out


def run_dag(dag_id: str, date: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | None, str]:
    code, summaries, out = run_dags([(dag_id, date)], env)
    return code, (summaries[0] if summaries else None), out


# --- the stack's api-server ------------------------------------------------------------------------
def api_token(base: str = airflow.API_URL) -> str:
    """A JWT from the simple auth manager (all-admins mode: no password on 127.0.0.1)."""
    try:
        with urllib.request.urlopen(f"{base}/auth/token", timeout=60) as resp:
            return str(json.load(resp)["access_token"])
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise StackError(f"no token from the Airflow api-server at {base} ({exc}) — is the stack up "
                         "(`make local-status`)?") from None


def api(method: str, path: str, token: str, body: Any = None, base: str = airflow.API_URL) -> Any:
    req = urllib.request.Request(f"{base}/api/v2{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as exc:
        raise StackError(f"{method} {base}/api/v2{path} answered {exc.code}: {exc.read()[:300]!r}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise StackError(f"the Airflow api-server at {base} did not answer {method} {path} ({exc}) — "
                         "is the stack up (`make local-status`)?") from None


def check(timeout: float = 600) -> dict[str, Any]:
    """Trigger each DAG through the REST API, wait for every run; seconds per run and Airflow's RSS."""
    airflow.ensure_pools(context(), "airflow")  # a stack provisioned before the pools existed: tasks would wait
    token = api_token()
    dags = {d["dag_id"]: d for d in api("GET", "/dags?limit=100", token)["dags"]}
    missing = [d for d in DAG_IDS if d not in dags]
    if missing:
        raise StackError(f"the api-server does not list {missing} yet (the dag-processor parses every 30 s)")
    from eventbus.kafka.reader import end_offsets, read_range
    from eventbus.settings import get_settings

    topic, settings = "topic_external_data", get_settings()
    offsets = end_offsets(settings, topic)
    runs = {}
    for dag_id in DAG_IDS:
        # A logical date of now: Airflow gives the run the last whole interval of the DAG's schedule.
        now = datetime.now(UTC).isoformat()
        run = api("POST", f"/dags/{dag_id}/dagRuns", token, {"logical_date": now, "note": "airflow_cli check"})
        runs[dag_id] = run["dag_run_id"]
    t0 = time.monotonic()
    result: dict[str, dict[str, Any]] = {}
    while len(result) < len(runs):
        if time.monotonic() - t0 > timeout:
            raise StackError(f"runs not finished within {timeout:.0f}s: {sorted(set(runs) - set(result))}")
        for dag_id, run_id in runs.items():
            if dag_id in result:
                continue
            try:
                run = api("GET", f"/dags/{dag_id}/dagRuns/{run_id}", token)
            except StackError:
                continue  # a busy api-server (1 worker, shared with the tasks' execution API): ask again
            if run["state"] in ("success", "failed"):
                result[dag_id] = {"state": run["state"], "run_id": run_id,
                                  "schedule": dags[dag_id].get("timetable_summary"),
                                  "seconds": _seconds(run), "wall_s": round(time.monotonic() - t0, 1)}
        time.sleep(1)
    by_run = {r["run_id"]: d for d, r in result.items()}
    counts = dict.fromkeys(result, 0)
    for _, record in read_range(settings, offsets, end_offsets(settings, topic), topic):
        if record["run_id"] in by_run:
            counts[by_run[record["run_id"]]] += 1
    for dag_id, n in counts.items():
        result[dag_id]["records"] = n
    return {"runs": result, "rss_mb": airflow_rss_mb()}


def _seconds(run: dict[str, Any]) -> float | None:
    if not run.get("start_date") or not run.get("end_date"):
        return None
    start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return round((end - start).total_seconds(), 1)


def airflow_rss_mb() -> dict[str, float]:
    """Memory of each Airflow program's process tree (supervisord's children), in MB: PSS (shared pages
    split between the processes sharing them — the forked executor workers share most of theirs)."""
    from local.stack.supervision import Supervisor

    sup = Supervisor(context().state)
    names = set(sup.names())
    out = {}
    for spec in airflow.SPECS:
        pid = int(sup.info(spec.name).get("pid") or 0) if spec.name in names else 0
        if pid:
            out[spec.name] = round(sum(_pss_kb(p) for p in _tree(pid)) / 1024, 1)
    return out


def _tree(pid: int) -> list[int]:
    ps = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in ps.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
    except OSError:  # gone meanwhile, or not ours to read
        return 0


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans open at one instant (a span ending where another starts does not overlap it)."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    depth = peak = 0
    for _, step in events:
        depth += step
        peak = max(peak, depth)
    return peak


def backfill_check(dag_id: str = "weather_data_ingestion", days: int = 3, pool: str = "open_meteo",
                   slots: int = 1, max_active_runs: int = 4, latency_s: float = 0.2,
                   timeout: float = 1200) -> dict[str, Any]:
    """Backfill ``days`` days of ``dag_id`` on the stack's Airflow with ``pool`` at ``slots`` slots, up to
    ``max_active_runs`` runs at once; from the replay server's log: the most concurrent requests to the
    pool's hosts (Open-Meteo's forecast + archive) and, from Airflow, the most runs active at once.
    The replay server answers Open-Meteo after ``latency_s`` (a real API is not instant; with instant
    answers two fetching tasks would rarely overlap even without the pool)."""
    airflow.ensure_pools(context(), "airflow")
    token = api_token()
    replay = f"http://127.0.0.1:{airflow.REPLAY_PORT}"
    hosts = {"api.open-meteo.com", "archive-api.open-meteo.com"}
    before = api("GET", f"/pools/{pool}", token)["slots"]
    patch = {"pool": pool, "include_deferred": False}  # the PATCH body wants them even with update_mask
    api("PATCH", f"/pools/{pool}?update_mask=slots", token, {**patch, "slots": slots})
    try:
        urllib.request.urlopen(urllib.request.Request(f"{replay}/_replay/stats", method="DELETE"), timeout=10).close()
        slow = json.dumps({h: {"mode": "slow", "delay_s": latency_s, "times": -1} for h in hosts}).encode()
        urllib.request.urlopen(urllib.request.Request(f"{replay}/_replay/faults", data=slow, method="POST"),
                               timeout=10).close()
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start, end = today - timedelta(days=days), today  # recent: the forecast API's window
        bf = api("POST", "/backfills", token, {"dag_id": dag_id, "from_date": start.isoformat(),
                                                "to_date": (end - timedelta(seconds=1)).isoformat(),
                                                "max_active_runs": max_active_runs, "reprocess_behavior": "completed"})
        t0 = time.monotonic()
        while True:
            if time.monotonic() - t0 > timeout:
                raise StackError(f"backfill {bf['id']} not done within {timeout:.0f}s")
            try:
                state = api("GET", f"/backfills/{bf['id']}", token)
            except StackError:
                state = {}
            if state.get("completed_at"):
                break
            time.sleep(3)
        wall = time.monotonic() - t0
        runs = api("GET", f"/dags/{dag_id}/dagRuns?run_type=backfill&limit=100&logical_date_gte="
                          f"{urllib.parse.quote(start.isoformat())}&logical_date_lt={urllib.parse.quote(end.isoformat())}",
                   token)["dag_runs"]
        with urllib.request.urlopen(f"{replay}/_replay/log", timeout=30) as resp:
            log = [e for e in json.load(resp)["log"] if e["host"] in hosts]
    finally:
        api("PATCH", f"/pools/{pool}?update_mask=slots", token, {**patch, "slots": before})
        urllib.request.urlopen(urllib.request.Request(f"{replay}/_replay/faults", method="DELETE"), timeout=10).close()

    def ts(v: str) -> float:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()

    spans = [(ts(r["start_date"]), ts(r["end_date"])) for r in runs if r.get("start_date") and r.get("end_date")]
    return {"dag_id": dag_id, "days": days, "pool": pool, "slots": slots, "backfill_id": bf["id"],
            "latency_s": latency_s, "runs": len(runs), "states": dict(Counter(r["state"] for r in runs)),
            "wall_s": round(wall, 1),
            "max_runs_active_at_once": max_overlap(spans), "requests": len(log),
            "max_concurrent_requests": max_overlap([(e["start"], e["end"]) for e in log])}


def restart() -> None:
    """Restart the Airflow programs (and the replay server) with the configuration ``local/stack/airflow.py`` gives
    now: supervisord's config is rewritten and their process groups are replaced; nothing else restarts."""
    from local.stack import control as stack
    from local.stack.supervision import Supervisor

    ctx = context()
    sup = Supervisor(ctx.state)
    if not sup.running():
        raise StackError("the stack is not running — `make local-up`")
    present = {s.name for s in stack._supervised(sup)}
    sup.add([stack._resolve(s, ctx) for s in stack.PROGRAMS if s.name in present])
    rpc = sup._rpc()
    for spec in airflow.SPECS:
        if spec.name in present:
            sup.stop(spec.name)
            rpc.supervisor.removeProcessGroup(spec.name)
            rpc.supervisor.addProcessGroup(spec.name)
    for spec in airflow.SPECS:
        if spec.name in present:
            print(f"{spec.name}: healthy after {stack.start_program(spec.name, timeout=300):.1f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.stack.airflow_cli", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dag", help="run one DAG once for a logical date (dag.test) against the running stack")
    d.add_argument("dag_id", choices=DAG_IDS)
    d.add_argument("date", help="logical date, ISO-8601, e.g. 2026-01-15T06:00:00Z")
    a = sub.add_parser("airflow", help="run an airflow CLI command with the stack's configuration")
    a.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("check", help="trigger each DAG on the stack's Airflow, wait, print seconds, records, memory")
    sub.add_parser("restart", help="restart the stack's Airflow programs with the current local/stack/airflow.py "
                                              "config")
    b = sub.add_parser("backfill-check", help="backfill DAYS days of the weather DAG with pool open_meteo at SLOTS "
                                              "slots; print the most concurrent requests the replay server saw")
    b.add_argument("--days", type=int, default=3)
    b.add_argument("--slots", type=int, default=1)
    b.add_argument("--max-active-runs", type=int, default=4)
    b.add_argument("--latency", type=float, default=0.2, help="seconds the replay server takes per Open-Meteo answer")
    args = parser.parse_args(argv)
    try:
        if args.command == "dag":
            code, summary, out = run_dag(args.dag_id, args.date,
                                         dag_env(EB_DAGS_REPLAY_URL=f"http://127.0.0.1:{airflow.REPLAY_PORT}"))
            if code != 0:
                print("\n".join(out.splitlines()[-40:]), file=sys.stderr)
            print(json.dumps(summary, indent=2))
            return code
        if args.command == "airflow":
            _need_airflow()
            env = {**os.environ, **airflow.airflow_env(context())}
            return subprocess.run([str(airflow.AIRFLOW), *args.args], env=env, check=False).returncode
        if args.command == "restart":
            restart()
            return 0
        if args.command == "backfill-check":
            result = backfill_check(days=args.days, slots=args.slots, max_active_runs=args.max_active_runs,
                                    latency_s=args.latency)
            print(json.dumps(result, indent=2))
            ok = result["states"] == {"success": result["runs"]} and result["runs"] == 4 * args.days
            return 0 if ok and result["max_concurrent_requests"] <= args.slots else 1
        report = check()
        print(f"{'dag':<26} {'state':<8} {'schedule':<14} {'run s':>6} {'records in topic_external_data':>31}")
        for dag_id, r in report["runs"].items():
            print(f"{dag_id:<26} {r['state']:<8} {r['schedule']!s:<14} {r['seconds']!s:>6} {r['records']:>31}")
        print("memory (PSS) MB: " + ", ".join(f"{k} {v}" for k, v in report["rss_mb"].items())
              + f" — total {sum(report['rss_mb'].values()):.0f}")
        return 0 if all(r["state"] == "success" and r["records"] > 0 for r in report["runs"].values()) else 1
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    exit_with(main)
