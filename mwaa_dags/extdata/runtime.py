"""What the three DAG files share: one defaults factory, ``dag_args`` (schedule with data intervals,
defaults, timeouts, the failure alert), the Assets they write, the running interval.

    >>> @dag(**dag_args("weather_data_ingestion", "0 */6 * * *", tags=["weather"], doc=__doc__,
    ...                 dagrun_timeout=timedelta(hours=3)))
    ... def weather_data_ingestion() -> None: ...
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from extdata.alerts import task_failed
from extdata.records import TOPIC, Interval
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
        "retry_exponential_backoff": True,  # 5 min, 10 min, ...: an outage gets room to end
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": task_failed,  # after the last retry only
    }


def dag_args(dag_id: str, schedule: str, *, tags: list[str], doc: str | None, dagrun_timeout: timedelta,
             settings: DagSettings | None = None) -> dict[str, Any]:
    """The ``@dag(...)`` arguments every external-data DAG shares: a cron timetable with data intervals,
    no catchup (a backfill is explicit), one active run, unpaused at creation (MWAA pauses new DAGs by
    default), a run timeout, retries with backoff and the failure alert."""
    return {"dag_id": dag_id, "schedule": cron(schedule), "start_date": START, "catchup": False,
            "max_active_runs": 1, "is_paused_upon_creation": False, "dagrun_timeout": dagrun_timeout,
            "default_args": default_args(settings or DagSettings()), "tags": [*TAGS, *tags], "doc_md": doc}


def asset(source: str) -> Any:
    """The Asset a source's publishing task updates: its raw zone in the lake, whose records are on
    ``topic_external_data`` keyed ``<source>:<entity>``. Downstream DAGs schedule on it::

        @dag(schedule=[asset("weather")]) ...
    """
    from airflow.sdk import Asset

    from eventbus.settings import get_settings

    prefix = DagSettings().raw_prefix.strip("/")
    return Asset(name=f"external_data/{source}", uri=f"s3://{get_settings().lake_bucket}/{prefix}/{source}/",
                 extra={"topic": TOPIC, "key_prefix": f"{source}:"})


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
