"""The stack's programs, in start order. Adding a program is one entry in ``PROGRAMS``.

Engines (``phase="engine"``) start together; once all are healthy the catalog bootstrap runs; then
``phase="app"`` programs start. An entry with ``module=`` is optional: it joins the stack only when
that module exists in the checkout. For a Python service that answers HTTP, one line does::

    python_program("gateway", "lambdas.gateway", health_url="http://127.0.0.1:8000/health", port=8000)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from local.stack import airflow, broker, emulator, postgres
from local.stack.exceptions import PrerequisiteError
from local.stack.health import http_get, port_open
from local.stack.spec import Ctx, Hook, ProgramSpec


def python_program(
    name: str,
    module: str,
    *args: str,
    health_url: str | None = None,
    port: int | None = None,
    start_timeout: float = 60.0,
    check: Hook | None = None,
) -> ProgramSpec:
    """An ``app`` program run as ``python -m <module> <args>`` with the stack's local settings.

    Healthy when supervisord says RUNNING (checked by the caller) and ``health_url`` answers 2xx, else
    ``port`` accepts connections. ``port`` is the TCP port it binds (checked free before it starts).
    """

    def healthy(ctx: Ctx) -> bool:
        if health_url:
            answer = http_get(health_url)
            return answer is not None and 200 <= answer[0] < 300
        if port:
            return port_open(port)
        return True

    return ProgramSpec(
        name=name,
        module=module,
        phase="app",
        command=lambda ctx: [sys.executable, "-m", module, *args],
        healthy=healthy,
        ports=lambda ctx: (port,) if port else (),
        endpoint=lambda ctx: health_url or (f"127.0.0.1:{port}" if port else ""),
        env=lambda ctx: {"EB_PROFILE": "local", **emulator.DUMMY_CREDENTIALS},
        start_timeout=start_timeout,
        check=check,
    )


def spark_jars_resolved(ctx: Ctx) -> None:
    """The Spark driver needs the connector jars that `make spark-jars` resolves from Maven Central."""
    from emr_jobs.config import SparkSettings
    from emr_jobs.errors import JobError
    from emr_jobs.session import connector_jars

    try:
        connector_jars(SparkSettings())
    except JobError as exc:
        raise PrerequisiteError(
            str(exc).split(" — ")[0],
            "make spark-jars (make local-up does it), or EB_STACK_SKIP=spark to run without Spark",
        ) from None


PROGRAMS: Sequence[ProgramSpec] = (
    broker.SPEC,
    postgres.SPEC,
    emulator.SPEC,
    # Event gateway: uvicorn, a worker per CPU; healthy once /ready (broker reachable, topic there).
    python_program("gateway", "lambdas.gateway", health_url="http://127.0.0.1:8000/ready", port=8000),
    # CDC relay: slot travel_cdc over users/bookings/payments -> topic_cdc_changes; lag on :9187/metrics.
    python_program("cdc", "lambdas.cdc", "run", "--metrics-port", "9187",
                   health_url="http://127.0.0.1:9187/status", port=9187),
    # Simulators: the default scenario, ~300 events/min (app events -> gateway, streams -> Kafka, OLTP ->
    # PostgreSQL); a live rate line in its log every minute; per-source counts and rates on :9188/status.
    python_program("simulators", "lambdas.simulators", "run", "--scenario", "default", "--display", "plain",
                   "--set", "display_every_s=60", "--status-port", "9188",
                   health_url="http://127.0.0.1:9188/status", port=9188),
    # Console (local/console): read-only web UI on :8088 - topics, decoded messages, lag, sources, follow.
    python_program("console", "local.console", "serve", "--port", "8088",
                   health_url="http://127.0.0.1:8088/api/health", port=8088),
    # Airflow 3 (mwaa_dags/): the external-API replay server (:8090), api-server (UI + REST on :8080),
    # scheduler, dag-processor, triggerer — from .venv-airflow, metadata in PostgreSQL db `airflow`.
    *airflow.SPECS,
    # Spark: every job of emr_jobs/ in one local[2] driver (1 GB heap), UI on 127.0.0.1:4040, checkpoints and
    # progress JSON under local/.state/spark/. Joins the stack when emr_jobs/ is in the checkout.
    python_program("spark", "emr_jobs", "run", port=4040, start_timeout=180.0, check=spark_jars_resolved),
)


def by_name(name: str) -> ProgramSpec:
    for spec in PROGRAMS:
        if spec.name == name:
            return spec
    raise KeyError(f"no program {name!r} in the stack (known: {', '.join(p.name for p in PROGRAMS)})")
