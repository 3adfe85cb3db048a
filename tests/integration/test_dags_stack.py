"""The stack's own Airflow (127.0.0.1:8080): the UI answers, the three DAGs are listed unpaused with the
seed's schedules, and a run of each triggered through the REST API succeeds and puts records in
topic_external_data (scheduler + LocalExecutor + dag-processor + execution API, metadata in PostgreSQL)."""

from __future__ import annotations

import urllib.request

from local.stack import airflow
from local.stack.airflow_cli import DAG_IDS, api, api_token, check
from local.stack.health import wait_until

SCHEDULES = {"weather_data_ingestion": "0 */6 * * *", "maps_data_ingestion": "0 0 * * *",
             "config_driven_pipeline": "0 * * * *"}


def test_ui_lists_the_dags_and_triggered_runs_succeed() -> None:
    with urllib.request.urlopen(airflow.API_URL + "/", timeout=30) as resp:
        assert resp.status == 200 and "<html" in resp.read(2000).decode(errors="replace").lower()
    token = api_token()

    def listed() -> dict:
        return {d["dag_id"]: d for d in api("GET", "/dags?limit=100", token)["dags"]}

    # A freshly started stack: the dag-processor's first parse of mwaa_dags/ may still be under way.
    wait_until(lambda: set(DAG_IDS) <= set(listed()), 180, "the three DAGs listed by the api-server", interval=2)
    dags = listed()
    assert {d: dags[d]["timetable_summary"] for d in DAG_IDS} == SCHEDULES
    assert not any(dags[d]["is_paused"] for d in DAG_IDS)
    report = check(timeout=480)
    for dag_id, run in report["runs"].items():
        assert run["state"] == "success", (dag_id, run)
        assert run["records"] >= (17 if dag_id != "config_driven_pipeline" else 3), (dag_id, run)
    assert set(report["rss_mb"]) >= {"airflow-api-server", "airflow-scheduler"}
