"""Every DAG in mwaa_dags/ imports with no errors in Airflow (the pinned one, in .venv-airflow), with the
seed's schedules and tasks, built by the one ``external_dag`` factory: a run timeout, the failure alert, a
pool per rate-limited host (each declared in config/pools.yaml) and an Asset as the publishing task's outlet.
Runs Airflow's own DagBag in a subprocess: the test venv has no Airflow."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

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
                 "retries": bag.dags[d].default_args.get("retries"),
                 "timeout_s": bag.dags[d].dagrun_timeout.total_seconds() if bag.dags[d].dagrun_timeout else None,
                 "alert": getattr(bag.dags[d].default_args.get("on_failure_callback"), "__name__", None),
                 "pools": {t.task_id: t.pool for t in bag.dags[d].tasks},
                 "outlets": {t.task_id: [a.name for a in t.outlets] for t in bag.dags[d].tasks if t.outlets}}
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
    dags = bag["dags"]
    assert dags["weather_data_ingestion"]["tasks"] == ["extract", "publish"]
    assert dags["maps_data_ingestion"]["tasks"] == ["count_pois", "geocode", "publish"]
    assert dags["config_driven_pipeline"]["tasks"] == [
        "ingest_market_fx", "ingest_news_hackernews", "ingest_social_bluesky"]
    assert all(not v["catchup"] and v["retries"] >= 1 and v["paused"] is False for v in dags.values())
    # dagrun_timeout shorter than the schedule's period, so a stuck run ends before the next one is due
    assert {d: v["timeout_s"] for d, v in dags.items()} == {
        "weather_data_ingestion": 3 * 3600, "maps_data_ingestion": 6 * 3600, "config_driven_pipeline": 50 * 60}
    assert {v["alert"] for v in dags.values()} == {"task_failed"}
    assert dags["weather_data_ingestion"]["pools"]["extract"] == "open_meteo"
    assert dags["maps_data_ingestion"]["pools"] == {"geocode": "nominatim", "count_pois": "overpass",
                                                    "publish": "default_pool"}
    assert dags["config_driven_pipeline"]["pools"] == {"ingest_social_bluesky": "bluesky",
                                                       "ingest_market_fx": "frankfurter",
                                                       "ingest_news_hackernews": "hn_algolia"}
    declared = set(yaml.safe_load((REPO / "mwaa_dags/config/pools.yaml").read_text())["pools"]) | {"default_pool"}
    used = {p for v in dags.values() for p in v["pools"].values()}
    assert used <= declared, used - declared
    assert {d: v["outlets"] for d, v in dags.items()} == {
        "weather_data_ingestion": {"publish": ["external_data/weather"]},
        "maps_data_ingestion": {"publish": ["external_data/maps"]},
        "config_driven_pipeline": {f"ingest_{s}": [f"external_data/{s}"]
                                   for s in ("social_bluesky", "market_fx", "news_hackernews")}}
