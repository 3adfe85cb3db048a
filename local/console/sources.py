"""The Sources panel: the gateway's counters, the simulators' rates, the CDC relay, Airflow's runs.

Each source is read over HTTP (or SQL) with the console's deadline; one that does not answer is a
panel saying so ("Airflow not running"), never an error of the whole page.
"""

from __future__ import annotations

from typing import Any

import httpx

from local.console import pg
from local.console.clients import Clients
from local.console.exceptions import ConsoleError


def _get(url: str, timeout: float, **kwargs: Any) -> Any:
    resp = httpx.get(url, timeout=timeout, **kwargs)
    resp.raise_for_status()
    return resp.json()


def _down(what: str, url: str, exc: Exception) -> dict[str, Any]:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return {"ok": False, "url": url, "error": f"{what} not running or not answering at {url} ({detail})"}


def _gateway_key(clients: Clients) -> str:
    s = clients.settings
    if s.gateway_api_keys_secret_arn:
        from eventbus.aws import secret_json

        keys = secret_json(s, s.gateway_api_keys_secret_arn)
        return str(keys[0]) if keys else ""
    return s.gateway_api_keys.get_secret_value().split(",")[0].strip()


def gateway(clients: Clients) -> dict[str, Any]:
    """``GET /metrics?format=json`` of the gateway (requests by route and status, events accepted/failed)."""
    url = clients.settings.gateway_url.rstrip("/") + "/metrics"
    try:
        data = _get(url, clients.console.timeout_s, params={"format": "json"},
                    headers={"x-api-key": _gateway_key(clients)})
    except Exception as exc:
        return _down("gateway", url, exc)
    return {"ok": True, "url": url, "metrics": data}


def _status(what: str, url: str, timeout: float) -> dict[str, Any]:
    """A component's ``/status`` JSON (eventbus/status_server.py), or why it cannot be read."""
    try:
        return {"ok": True, "url": url, "status": _get(url, timeout)}
    except Exception as exc:
        return _down(what, url, exc)


def cdc(clients: Clients) -> dict[str, Any]:
    """The CDC relay's ``/status``: state, changes, acked, lag bytes/ms, confirmed LSN."""
    return _status("CDC relay", clients.console.cdc_status_url, clients.console.timeout_s)


def simulators(clients: Clients) -> dict[str, Any]:
    """The simulators' ``/status`` (lambdas/simulators/status.py): emitted count and rate per source."""
    return _status("simulators status endpoint", clients.console.simulators_status_url, clients.console.timeout_s)


def airflow(clients: Clients, limit: int = 15) -> dict[str, Any]:
    """Latest DAG runs: Airflow's REST API (``/api/v2``), else its ``dag_run`` table, else "not running"."""
    c = clients.console
    base = c.airflow_url.rstrip("/")
    links = {"ui": base}
    timeout = c.timeout_s / 2
    try:
        with httpx.Client(base_url=base, timeout=timeout) as http:
            token = http.get("/auth/token")  # simple auth manager with all admins: no credentials needed
            if token.status_code >= 400:
                token = http.post("/auth/token", json={"username": c.airflow_user,
                                                        "password": c.airflow_password.get_secret_value()})
            token.raise_for_status()
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            resp = http.get("/api/v2/dags/~/dagRuns", params={"order_by": "-start_date", "limit": limit},
                            headers=headers)
            resp.raise_for_status()
            runs = [{k: r.get(k) for k in ("dag_id", "dag_run_id", "state", "run_type", "logical_date",
                                           "start_date", "end_date")} for r in resp.json().get("dag_runs", [])]
            return {"ok": True, "via": "REST API", "runs": runs, "failures": dag_failures(clients), **links}
    except Exception as api_exc:
        api_error = str(api_exc).splitlines()[0] if str(api_exc) else type(api_exc).__name__
    try:
        runs = pg.airflow_runs(clients.settings, c.airflow_database, timeout, limit)
        for r in runs:
            r["dag_run_id"] = r.pop("run_id", None)
        return {"ok": True, "via": f"table dag_run in database {c.airflow_database}", "runs": runs,
                "api_error": api_error, **links}
    except Exception as db_exc:
        db_error = str(db_exc).splitlines()[0] if str(db_exc) else type(db_exc).__name__
    return {"ok": False, **links, "error": f"Airflow not running: the API at {base} did not answer ({api_error}) "
            f"and its database {c.airflow_database!r} is not readable ({db_error})"}


def dag_failures(clients: Clients, hours: int = 24) -> list[dict[str, Any]]:
    """What the DAGs' failure callback put (mwaa_dags/extdata/alerts.py: CloudWatch ``DagRunFailed`` per
    DagId/TaskId — the emulator's locally, the metric the MWAA alarm watches in AWS), last ``hours``."""
    from datetime import UTC, datetime, timedelta

    from eventbus.aws import client

    try:
        cw, now = client("cloudwatch", clients.settings), datetime.now(UTC)
        out, seen = [], set()
        for m in cw.list_metrics(Namespace="TravelDataSources/DAGs", MetricName="DagRunFailed")["Metrics"]:
            dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
            if "DagId" not in dims or tuple(sorted(dims.items())) in seen:
                continue  # the aggregate the alarm watches; the emulator lists a metric once per put
            seen.add(tuple(sorted(dims.items())))
            query = {"Id": "f", "MetricStat": {"Metric": {"Namespace": "TravelDataSources/DAGs",
                                                          "MetricName": "DagRunFailed", "Dimensions": m["Dimensions"]},
                                               "Period": hours * 3600, "Stat": "Sum"}}
            values = cw.get_metric_data(MetricDataQueries=[query], StartTime=now - timedelta(hours=hours),
                                        EndTime=now + timedelta(minutes=1))["MetricDataResults"][0]["Values"]
            if values:
                out.append({"dag_id": dims["DagId"], "task_id": dims.get("TaskId"), "failures": sum(values)})
        return out
    except Exception as exc:  # the emulator down: the runs table still shows
        return [{"dag_id": "?", "task_id": f"CloudWatch not readable: {str(exc).splitlines()[0][:120]}",
                 "failures": None}]


def cdc_slots(clients: Clients) -> dict[str, Any]:
    """Logical replication slots from ``pg_replication_slots``: lag in bytes, retained WAL."""
    try:
        return {"ok": True, "slots": pg.replication_slots(clients.settings, clients.console.timeout_s)}
    except ConsoleError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:
        return {"ok": False, "error": f"cannot read pg_replication_slots: {str(exc).splitlines()[0]}"}
