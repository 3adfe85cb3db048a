"""``python -m local.airflow_cli``: run a DAG once, use the Airflow CLI, or check the stack's Airflow.

    python -m local.airflow_cli dag weather_data_ingestion 2026-01-15T06:00:00Z   # dag.test(), one run
    python -m local.airflow_cli airflow dags list                                  # any airflow command
    python -m local.airflow_cli check                                              # trigger all 3, wait, measure

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
import urllib.request
from datetime import UTC, datetime
from typing import Any

from local import airflow
from local.exceptions import StackError
from local.stack import context

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
    with urllib.request.urlopen(f"{base}/auth/token", timeout=10) as resp:
        return str(json.load(resp)["access_token"])


def api(method: str, path: str, token: str, body: Any = None, base: str = airflow.API_URL) -> Any:
    req = urllib.request.Request(f"{base}/api/v2{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def check(timeout: float = 600) -> dict[str, Any]:
    """Trigger each DAG through the REST API, wait for every run; seconds per run and Airflow's RSS."""
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
            run = api("GET", f"/dags/{dag_id}/dagRuns/{run_id}", token)
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
    """Resident memory of each Airflow program's process tree (supervisord's children), in MB."""
    from local.supervision import Supervisor

    ctx = context()
    sup = Supervisor(ctx.state)
    out = {}
    for spec in airflow.SPECS:
        names = set(sup.names())
        pid = int(sup.info(spec.name).get("pid") or 0) if spec.name in names else 0
        if pid:
            out[spec.name] = round(_tree_rss_kb(pid) / 1024, 1)
    return out


def _tree_rss_kb(pid: int) -> int:
    ps = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True, check=True).stdout
    rows = [tuple(map(int, line.split())) for line in ps.splitlines() if line.strip()]
    children: dict[int, list[int]] = {}
    rss = {}
    for p, pp, r in rows:
        children.setdefault(pp, []).append(p)
        rss[p] = r
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.airflow_cli", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dag", help="run one DAG once for a logical date (dag.test) against the running stack")
    d.add_argument("dag_id", choices=DAG_IDS)
    d.add_argument("date", help="logical date, ISO-8601, e.g. 2026-01-15T06:00:00Z")
    a = sub.add_parser("airflow", help="run an airflow CLI command with the stack's configuration")
    a.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("check", help="trigger each DAG on the stack's Airflow, wait, print seconds and RSS")
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
        report = check()
        print(f"{'dag':<26} {'state':<8} {'schedule':<14} {'run s':>6} {'records in topic_external_data':>31}")
        for dag_id, r in report["runs"].items():
            print(f"{dag_id:<26} {r['state']:<8} {r['schedule']!s:<14} {r['seconds']!s:>6} {r['records']:>31}")
        print("RSS MB: " + ", ".join(f"{k} {v}" for k, v in report["rss_mb"].items())
              + f" — total {sum(report['rss_mb'].values()):.0f}")
        return 0 if all(r["state"] == "success" and r["records"] > 0 for r in report["runs"].values()) else 1
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
