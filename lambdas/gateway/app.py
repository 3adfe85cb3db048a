"""The FastAPI app: ``create_app()`` is what uvicorn, mangum and the tests run.

    uvicorn --factory lambdas.gateway.app:create_app        # or: python -m lambdas.gateway
    >>> app = create_app(gateway=Gateway(settings))          # tests / Lambda: bring your own Gateway

Without a ``gateway`` the app builds one at startup (producer, serde, keys) and closes it — flushing
what is queued — at shutdown.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventbus.logging import configure_logging, get_logger
from eventbus.settings import Settings, get_settings
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.ids import new_request_id
from lambdas.gateway.ingest import Gateway
from lambdas.gateway.models import AppEventIn, BatchIn, BookingEventIn
from lambdas.gateway.problems import HTTPProblem, internal_error
from lambdas.gateway.routes import FAST_ROUTES, REQUEST_ID, ROUTE_LABELS, router

log = get_logger("gateway")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

DESCRIPTION = """\
Ingest for mobile/web app events into Kafka (`topic_app_events`, Avro, key `user_id`).

**Delivery:** a 2xx means the broker acknowledged the event (acks=all). When it does not within the
deadline (5 s by default) the answer is 503 with `Retry-After` and the `event_id`; retry with the same
`event_id` — if `possibly_persisted` is true the first attempt may have been written too, and consumers
de-duplicate on `event_id`.

**Auth:** header `x-api-key`.
"""


class RequestContext:
    """Pure-ASGI middleware: request id (``x-request-id`` in, else API Gateway's, else new) on the scope
    and on every response; per-route status counters; a JSON 500 instead of a stack trace; and the
    event routes served directly (``routes.FAST_ROUTES``) when ``fast`` is on."""

    def __init__(self, app: ASGIApp, owner: FastAPI, fast: bool = True) -> None:
        self.app = app
        self.owner = owner
        self.fast = FAST_ROUTES if fast else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                rid = candidate if _SAFE_ID.match(candidate) else None
                break
        if rid is None:
            event = scope.get("aws.event")
            rid = (event or {}).get("requestContext", {}).get("requestId") or new_request_id()
        scope[REQUEST_ID] = rid
        header = (b"x-request-id", rid.encode("latin-1", "replace"))
        started = False
        path = scope["path"]
        route = path if path in ROUTE_LABELS else "other"

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
                gw = getattr(self.owner.state, "gateway", None)
                if gw is not None:
                    gw.metrics.responses[(route, message["status"])] += 1
            await send(message)

        endpoint = self.fast.get(path) if scope["method"] == "POST" else None
        try:
            if endpoint is None:
                await self.app(scope, receive, send_with_id)
            else:
                request = Request(scope, receive)
                try:
                    response = await endpoint(request)
                except HTTPProblem as problem:
                    response = problem.response(rid)
                await response(scope, receive, send_with_id)
        except Exception:
            if started:  # answered already (FastAPI's error handler logs and answers its own routes)
                return
            log.exception("unhandled error", extra={"request_id": rid, "path": path})
            await internal_error().response(rid)(scope, receive, send_with_id)


class GatewayApp(FastAPI):
    """FastAPI with ``RequestContext`` as its outermost layer: the event routes are answered there,
    before FastAPI's own middleware stack, router and dependency resolution (the fast path)."""

    edge: RequestContext

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.edge(scope, receive, send)

    async def _inner(self, scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(self, scope, receive, send)


def _custom_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (AppEventIn, BookingEventIn, BatchIn):
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(js.pop("$defs", {}))
        schemas[model.__name__] = js
    components["securitySchemes"] = {"ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}
    app.openapi_schema = schema
    return schema


def _rid(request: Request) -> str:
    return str(request.scope.get(REQUEST_ID, "-"))


def create_app(
    settings: Settings | None = None,
    config: GatewayConfig | None = None,
    *,
    gateway: Gateway | None = None,
    fast_path: bool = True,
) -> FastAPI:
    """The app. With ``gateway`` given, its owner opens and closes it (Lambda container, tests).
    ``fast_path=False`` routes the event endpoints through FastAPI too (same functions, slower)."""
    settings = settings or (gateway.settings if gateway else get_settings())
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if gateway is not None or getattr(app.state, "gateway", None) is not None:
            yield  # brought by its owner (Lambda container, tests): the owner closes it
            return
        created = app.state.gateway = Gateway(settings, config)
        log.info("gateway started", extra={"topic": created.topic, "bootstrap": settings.kafka_bootstrap})
        try:
            yield
        finally:
            created.close()

    app = GatewayApp(
        title="Travel events gateway",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    if gateway is not None:
        app.state.gateway = gateway
    app.include_router(router)
    app.edge = RequestContext(app._inner, owner=app, fast=fast_path)
    app.openapi = lambda: _custom_openapi(app)  # type: ignore[method-assign]

    @app.exception_handler(HTTPProblem)
    async def _problem(request: Request, exc: HTTPProblem) -> Response:
        return exc.response(_rid(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        names = {404: "not_found", 405: "method_not_allowed"}
        problem = HTTPProblem(exc.status_code, names.get(exc.status_code, "http_error"), str(exc.detail))
        problem.headers.update(exc.headers or {})
        return problem.response(_rid(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc, extra={"request_id": _rid(request), "path": request.url.path})
        return internal_error().response(_rid(request))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        return HTTPProblem(422, "invalid_request", "invalid request parameters", problems=problems).response(
            _rid(request)
        )

    return app
