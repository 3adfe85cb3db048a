"""What the three DAG files share: default args, the schedule timetable, the running interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from extdata.records import Interval
from extdata.settings import DagSettings

START = datetime(2026, 1, 1, tzinfo=UTC)
TAGS = ["external-data", "topic_external_data"]


def cron(expression: str) -> Any:
    """A cron schedule *with data intervals* (Airflow 3's plain cron strings run with an empty interval,
    and the DAGs are idempotent per data interval)."""
    try:
        from airflow.sdk import CronDataIntervalTimetable
    except ImportError:  # Airflow < 3.1
        from airflow.timetables.interval import CronDataIntervalTimetable
    return CronDataIntervalTimetable(expression, timezone="UTC")


def default_args(settings: DagSettings) -> dict[str, Any]:
    return {
        "owner": "data-platform",
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_s),
        "retry_exponential_backoff": False,
        "execution_timeout": timedelta(minutes=30),
    }


def current_interval(period: timedelta) -> tuple[Interval, str | None]:
    """The running task's data interval. A run without one (a manual run with no logical date) covers the
    last whole ``period`` before the run was requested — the same for every task of the run."""
    from airflow.sdk import get_current_context

    ctx = get_current_context()
    dag_run = ctx.get("dag_run")
    start, end = ctx.get("data_interval_start"), ctx.get("data_interval_end")
    if start is None or end is None or start == end:
        anchor = ctx.get("logical_date") or getattr(dag_run, "run_after", None) or datetime.now(UTC)
        step = int(period.total_seconds())
        end = datetime.fromtimestamp(int(anchor.timestamp()) // step * step, UTC)
        start = end - period
    return Interval.parse(start, end), getattr(dag_run, "run_id", None)
