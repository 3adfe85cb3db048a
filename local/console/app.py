"""The console's HTTP API and pages (FastAPI). Read-only: no route writes to Kafka or PostgreSQL.

    GET /                                   the single-page console (static/index.html)
    GET /api/topics                         catalog topics: partitions, messages, policy, in-rate series
    GET /api/topics/{topic}/messages        latest records decoded (?limit, key, where, before)
    GET /api/follow?kind=booking_id&id=...  an entity's timeline across topics and PostgreSQL rows
    GET /api/lag                            consumer groups, CDC slot, Spark queries
    GET /api/sources                        gateway, simulators, CDC relay, Airflow runs, UI links
    GET /api/verify                         the last `make verify` result and its latency history

Errors are ``{"error": "..."}`` with 400 (malformed input), 404 (unknown topic) or 424 (the broker,
registry or database did not answer within ``EB_CONSOLE_TIMEOUT_S``) — never a 500 or a hung request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from eventbus.exceptions import EventBusError, UnknownTopicError
from local.console import lag, sources, spark, verify
from local.console.clients import Clients
from local.console.exceptions import ConsoleError, DependencyError
from local.console.filters import parse_cursor, parse_filter
from local.console.follow import follow
from local.console.reading import read_latest
from local.console.topics import RateSampler

STATIC = Path(__file__).resolve().parent / "static"


def create_app(clients: Clients | None = None, *, sample: bool = True) -> FastAPI:
    """The app; ``sample=False`` leaves out the background end-offset sampler (tests)."""
    holder: dict[str, Any] = {}

    def get() -> tuple[Clients, RateSampler]:
        if "clients" not in holder:
            holder["clients"] = clients or Clients()
            holder["sampler"] = RateSampler(holder["clients"])
        return holder["clients"], holder["sampler"]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        _c, sampler = get()
        if sample:
            sampler.start()
        yield
        sampler.stop()

    app = FastAPI(title="eventbus console", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)

    @app.exception_handler(ConsoleError)
    async def console_error(_r: Request, exc: ConsoleError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(UnknownTopicError)
    async def unknown_topic(_r: Request, exc: UnknownTopicError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @app.exception_handler(EventBusError)
    async def dependency(_r: Request, exc: EventBusError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=DependencyError.status)

    @app.exception_handler(RequestValidationError)
    async def bad_params(_r: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e['loc'][1:])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "bad parameter — " + "; ".join(parts)}, status_code=400)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        c, sampler = get()
        return {"ok": True, "profile": c.settings.profile, "bootstrap": c.settings.kafka_bootstrap,
                "sampler_error": sampler.error}

    @app.get("/api/topics")
    def topics(fresh: bool = False) -> dict[str, Any]:
        return get()[1].overview(fresh=fresh)

    @app.get("/api/topics/{topic}/messages")
    def messages(
        topic: str,
        limit: int = Query(50, description="records to return (1..EB_CONSOLE_MAX_LIMIT)"),
        key: str | None = Query(None, description="exact key, or /regex/"),
        where: str | None = Query(None, description="FIELD=VALUE on the decoded record, e.g. after.status=confirmed"),
        before: str | None = Query(None, description="cursor of the previous page (PARTITION:OFFSET,...)"),
    ) -> dict[str, Any]:
        c = get()[0]
        spec = c.topic(topic)
        flt = parse_filter(spec, key=key, where=where)
        page = read_latest(c, topic, limit=limit, flt=flt, before=parse_cursor(before))
        return {"topic": topic, "records": page.records, "cursor": page.cursor, "scanned": page.scanned,
                "stopped": page.stopped, "elapsed_ms": page.elapsed_ms, "key": spec.key}

    @app.get("/api/follow")
    def follow_entity(kind: str = Query(..., description="user_id, session_id or booking_id"),
                      id: str = Query(..., description="the entity's id")) -> dict[str, Any]:
        return follow(get()[0], kind, id)

    @app.get("/api/lag")
    def lag_page() -> dict[str, Any]:
        c, sampler = get()
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="lag") as pool:
            relay, slots = pool.submit(sources.cdc, c), pool.submit(sources.cdc_slots, c)
            try:
                groups: dict[str, Any] = lag.consumer_groups(c)
            except DependencyError as exc:
                groups = {"groups": [], "error": str(exc)}
            cdc = {"relay": relay.result(), "slots": slots.result()}
        return {"kafka": groups, "cdc": cdc,
                "spark": spark.queries(c.console.progress_dir(), sampler.latest()),
                "links": {"spark_ui": c.console.spark_ui_url}}

    @app.get("/api/sources")
    def sources_page() -> dict[str, Any]:
        c = get()[0]
        panels = {"gateway": sources.gateway, "simulators": sources.simulators, "cdc": sources.cdc,
                  "airflow": sources.airflow}
        with ThreadPoolExecutor(max_workers=len(panels), thread_name_prefix="sources") as pool:
            futures = {name: pool.submit(fn, c) for name, fn in panels.items()}
            out: dict[str, Any] = {name: fut.result() for name, fut in futures.items()}
        out["links"] = {"spark_ui": c.console.spark_ui_url, "airflow_ui": c.console.airflow_url}
        return out

    @app.get("/api/verify")
    def verify_page() -> dict[str, Any]:  # the last `make verify` result (local/console/verify.py)
        return verify.last_result(verify.result_dir())

    return app
