"""Every DAG in mwaa_dags/ imports with no errors in Airflow (the pinned one, in .venv-airflow), with the
seed's schedules and tasks. Runs Airflow's own DagBag in a subprocess: the test venv has no Airflow."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"
DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import coerce_to_core_timetable
bag = DagBag(sys.argv[1], include_examples=False)
print("DAGBAG " + json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {d: {"schedule": coerce_to_core_timetable(bag.dags[d].timetable).summary,
                 "tasks": sorted(bag.dags[d].task_ids),
                 "paused": bag.dags[d].is_paused_upon_creation, "catchup": bag.dags[d].catchup,
                 "retries": bag.dags[d].default_args.get("retries")}
             for d in bag.dag_ids},
}))
"""


def dagbag(folder: Path, tmp_path: Path) -> dict:
    assert AIRFLOW_PY.exists(), f"{AIRFLOW_PY} missing — run `make install` (it creates .venv-airflow)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__DAGS_FOLDER=str(folder), PYTHONPATH=str(folder),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", EB_PROFILE="local")
    proc = subprocess.run([str(AIRFLOW_PY), "-c", DAGBAG, str(folder)], env=env, capture_output=True, text=True,
                          timeout=180, check=False, cwd=tmp_path)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("DAGBAG ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(line.split(" ", 1)[1])


def test_every_dag_imports_with_the_seed_schedules(tmp_path: Path) -> None:
    bag = dagbag(REPO / "mwaa_dags", tmp_path)
    assert bag["errors"] == {}
    assert {d: v["schedule"] for d, v in bag["dags"].items()} == {
        "weather_data_ingestion": "0 */6 * * *",
        "maps_data_ingestion": "0 0 * * *",
        "config_driven_pipeline": "0 * * * *",
    }
    assert bag["dags"]["weather_data_ingestion"]["tasks"] == ["extract", "publish"]
    assert bag["dags"]["maps_data_ingestion"]["tasks"] == ["extract", "publish"]
    assert bag["dags"]["config_driven_pipeline"]["tasks"] == ["ingest", "plan"]
    assert all(not v["catchup"] and v["retries"] >= 1 and v["paused"] is False for v in bag["dags"].values())
