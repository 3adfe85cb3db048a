"""Failure alerts: a task that fails for good (no retry left) puts a CloudWatch datapoint.

``<EB_DAGS_ALERT_NAMESPACE>/DagRunFailed``, twice: with dimensions ``DagId`` + ``TaskId`` (which one) and
with none (the aggregate that the alarm in infra/modules/mwaa watches). In AWS that is CloudWatch; locally
the emulator's, which the console reads ("DAG failures"). A failing alert never hides the task's own error:
it is logged and swallowed.

    >>> default_args = {"on_failure_callback": task_failed}
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("extdata.alerts")
METRIC = "DagRunFailed"


def task_failed(context: Any) -> None:
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or "unknown"
    task_id = getattr(ti, "task_id", None) or "unknown"
    error = context.get("exception")
    log.error("ALERT dag %s task %s failed for good: %s", dag_id, task_id, error)
    try:
        put_failure(dag_id, task_id)
    except Exception as exc:  # the alert is best effort; the task's failure stands on its own
        log.warning("could not put the failure metric: %s", exc)


def put_failure(dag_id: str, task_id: str, when: datetime | None = None) -> None:
    from eventbus.aws import client
    from eventbus.settings import get_settings
    from extdata.settings import DagSettings

    when = when or datetime.now(UTC)
    datum = {"MetricName": METRIC, "Timestamp": when, "Value": 1.0, "Unit": "Count"}
    client("cloudwatch", get_settings()).put_metric_data(Namespace=DagSettings().alert_namespace, MetricData=[
        {**datum, "Dimensions": [{"Name": "DagId", "Value": dag_id}, {"Name": "TaskId", "Value": task_id}]},
        datum,
    ])
