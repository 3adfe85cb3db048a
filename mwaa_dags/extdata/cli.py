"""``python -m extdata.cli``: run DAGs for logical dates with ``dag.test()`` (no scheduler needed).

    PYTHONPATH=mwaa_dags .venv-airflow/bin/python -m extdata.cli test weather_data_ingestion 2026-01-15T06:00:00Z

Several ``DAG DATE`` pairs run one after the other in this one process (Airflow is imported once). It
needs Airflow's metadata database (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``; ``make dag`` points it at the
stack's PostgreSQL) and prints a ``DAG_RUN {json}`` line per run: its state, each task's state, try number
and return value, the seconds it took. Exit 0 when every run succeeded, 1 when one failed, 2 on a usage
error.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DAGS_DIR = Path(__file__).resolve().parent.parent


def load_dag(dag_id: str) -> Any:
    """The DAG object from its file (``dag.test()`` needs that object, not one from the DagBag)."""
    path = DAGS_DIR / f"{dag_id}.py"
    if not path.exists():
        known = sorted(p.stem for p in DAGS_DIR.glob("*.py"))
        raise SystemExit(f"no DAG file {path.name} in {DAGS_DIR} — known: {', '.join(known)}")
    spec = importlib.util.spec_from_file_location(f"dagfile_{dag_id}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag_object


def _one_execution_api() -> None:
    """``dag.test()`` builds a new in-process Execution API app (FastAPI + cadwyn routes) for every task —
    seconds of CPU each. One app serves every task of the run just as well."""
    try:
        from airflow.sdk.execution_time import supervisor
    except ImportError:  # another Airflow layout: keep its behaviour
        return
    if hasattr(supervisor, "in_process_api_server") and not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.cache(supervisor.in_process_api_server)


def run(dag_id: str, logical_date: datetime) -> dict[str, Any]:
    dag = load_dag(dag_id)
    _one_execution_api()
    t0 = time.monotonic()
    dr = dag.test(logical_date=logical_date)
    took = time.monotonic() - t0
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dr.get_task_instances(session=session)
        tasks = {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id:
                 {"state": str(ti.state), "try_number": ti.try_number} for ti in tis}
        for x in session.scalars(XComModel.get_many(run_id=dr.run_id, dag_ids=dag_id, key="return_value")):
            name = f"{x.task_id}[{x.map_index}]" if x.map_index >= 0 else x.task_id
            if name in tasks:
                tasks[name]["returned"] = XComModel.deserialize_value(x)
    return {"dag_id": dag_id, "run_id": dr.run_id, "state": str(dr.state), "seconds": round(took, 2),
            "data_interval_start": dr.data_interval_start.isoformat() if dr.data_interval_start else None,
            "data_interval_end": dr.data_interval_end.isoformat() if dr.data_interval_end else None,
            "tasks": tasks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m extdata.cli", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("test", help="run one DAG for one logical date (dag.test) and print a JSON summary")
    t.add_argument("runs", nargs="+", metavar="DAG DATE",
                   help="pairs: a DAG id (weather_data_ingestion | maps_data_ingestion | config_driven_pipeline) "
                        "and a logical date, ISO-8601 (UTC if no offset), e.g. 2026-01-15T06:00:00Z")
    args = parser.parse_args(argv)
    if len(args.runs) % 2:
        print("give DAG DATE pairs, e.g. weather_data_ingestion 2026-01-15T06:00:00Z", file=sys.stderr)
        return 2
    pairs = []
    for dag_id, date in zip(args.runs[::2], args.runs[1::2], strict=True):
        try:
            when = datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            print(f"bad date {date!r}: use ISO-8601, e.g. 2026-01-15T06:00:00Z", file=sys.stderr)
            return 2
        pairs.append((dag_id, when if when.tzinfo else when.replace(tzinfo=UTC)))
    ok = True
    for dag_id, when in pairs:
        summary = run(dag_id, when)
        print("DAG_RUN " + json.dumps(summary, default=str), flush=True)
        ok = ok and summary["state"] == "success"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
