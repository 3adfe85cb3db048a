"""HTTP routes, declared once. The event routes read the raw body and validate it in one pydantic call
(no FastAPI body parsing, no per-request dependencies): this is the hot path of the ≥4,000 req/s target.

``@event_route`` registers an event route with FastAPI (OpenAPI, the slow path) *and* in ``FAST_ROUTES``
(served straight from ``app.RequestContext``); ``ROUTE_LABELS`` — the metric labels — is every path the
router serves. One table, three uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from eventbus.exceptions import SchemaValidationError
from eventbus.logging import get_logger
from lambdas.gateway.delivery import Ack, NotAcknowledged
from lambdas.gateway.ingest import ClientMeta, EventTooFarAhead, Gateway
from lambdas.gateway.models import Accepted, AppEventIn, BatchResult, BookingEventIn, Problem, Validated
from lambdas.gateway.parsing import batch_events, parse_event, validate_all_json, validate_items
from lambdas.gateway.problems import HTTPProblem, json_response

log = get_logger("gateway")
router = APIRouter()
Endpoint = Callable[[Request], Awaitable[Response]]
#: The event routes, served straight from the ASGI middleware (``app.RequestContext``): FastAPI's
#: router and dependency resolution cost more than the rest of the request. The same functions stay
#: registered with FastAPI for the OpenAPI document and are what runs when the fast path is off.
FAST_ROUTES: dict[str, Endpoint] = {}
REQUEST_ID = "gateway.request_id"  # scope key set by app.RequestContext
MAX_USER_AGENT = 512


def _body_spec(component: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
        },
        "security": [{"ApiKey": []}],
    }


_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "malformed JSON"},
    401: {"model": Problem, "description": "missing or invalid x-api-key"},
    413: {"model": Problem, "description": "body (or batch) too large"},
    415: {"model": Problem, "description": "body is not application/json"},
}


def gateway_of(request: Request) -> Gateway:
    return request.app.state.gateway


def authorize(gw: Gateway, request: Request) -> None:
    if not gw.keys.check(request.headers.get("x-api-key")):
        gw.metrics.requests_unauthorized += 1
        raise HTTPProblem(
            401,
            "unauthorized",
            "missing or invalid x-api-key header",
            headers={"WWW-Authenticate": 'ApiKey header="x-api-key"'},
        )


async def read_json_body(request: Request, limit: int) -> bytes:
    """The body, refused early when it is not JSON (415) or larger than ``limit`` (413)."""
    headers = request.headers
    ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise HTTPProblem(415, "unsupported_media_type", f"send Content-Type: application/json (got {ctype or 'none'})")
    too_big = HTTPProblem(413, "body_too_large", f"the body is larger than {limit} bytes")
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > limit:
            raise too_big
        return await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():  # chunked upload: count as it arrives
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def client_meta(request: Request) -> ClientMeta:
    ua = request.headers.get("user-agent")
    return ClientMeta(
        request_id=request.scope.get(REQUEST_ID, "-"),
        client_ip=request.client.host if request.client else None,
        user_agent=ua[:MAX_USER_AGENT] if ua else None,
    )


def not_acknowledged(gw: Gateway, meta: ClientMeta, event_ids: list[str], outcome: NotAcknowledged) -> HTTPProblem:
    log.warning(
        "not acknowledged by the broker",
        extra={"request_id": meta.request_id, "events": len(event_ids), "reason": outcome.reason},
    )
    return HTTPProblem(
        503,
        "not_acknowledged",
        f"the event was not stored: {outcome.reason}. Retry with the same event_id "
        + ("(it may have been written; consumers de-duplicate on event_id)" if outcome.possibly_persisted else ""),
        headers={"Retry-After": str(gw.config.retry_after_s)},
        event_id=event_ids[0],
        possibly_persisted=outcome.possibly_persisted,
    )


async def _single(request: Request, model: type[AppEventIn]) -> Response:
    gw = gateway_of(request)
    authorize(gw, request)
    body = await read_json_body(request, gw.config.max_event_bytes)
    meta = client_meta(request)
    try:
        event = parse_event(body, model)
    except HTTPProblem as problem:
        if problem.status == 422:
            gw.metrics.events_rejected += 1
            log.info("event rejected", extra={"request_id": meta.request_id, "problems": problem.problems})
        raise
    try:
        event_id, outcome = await gw.ingest_one(event, meta)
    except SchemaValidationError as exc:
        gw.metrics.events_rejected += 1
        raise HTTPProblem(422, "invalid_event", str(exc)) from None
    except EventTooFarAhead as exc:
        gw.metrics.events_rejected += 1
        problems = [{"field": "event_ts", "problem": str(exc)}]
        raise HTTPProblem(422, "invalid_event", f"event_ts: {exc}", problems=problems) from None
    if type(outcome) is Ack:
        return json_response(
            {
                "status": "accepted",
                "event_id": event_id,
                "topic": gw.topic,
                "partition": outcome.partition,
                "offset": outcome.offset,
                "request_id": meta.request_id,
            }
        )
    raise not_acknowledged(gw, meta, [event_id], outcome)  # type: ignore[arg-type]


def event_route(path: str, **openapi: Any) -> Callable[[Endpoint], Endpoint]:
    """``POST path`` for FastAPI (its OpenAPI entry) and for the fast path, from one declaration."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.post(path, **openapi)(endpoint)
        FAST_ROUTES[path] = endpoint
        return endpoint

    return register


@event_route(
    "/events/user",
    summary="Post one app event",
    responses={200: {"model": Accepted}, **_PROBLEMS, 422: {"model": Problem}, 503: {"model": Problem}},
    openapi_extra=_body_spec("AppEventIn"),
)
async def post_user_event(request: Request) -> Response:
    """Answered 200 only once the broker acknowledged the event (acks=all); 503 + Retry-After when it
    did not within the deadline."""
    return await _single(request, AppEventIn)


@event_route(
    "/events/booking",
    summary="Post one booking event (booking_* or payment_submitted, booking_id required)",
    responses={200: {"model": Accepted}, **_PROBLEMS, 422: {"model": Problem}, 503: {"model": Problem}},
    openapi_extra=_body_spec("BookingEventIn"),
)
async def post_booking_event(request: Request) -> Response:
    return await _single(request, BookingEventIn)


@event_route(
    "/events/batch",
    summary="Post mixed user/booking events; answered per event",
    responses={
        200: {"model": BatchResult, "description": "every event accepted"},
        207: {"model": BatchResult, "description": "some accepted, some rejected"},
        **_PROBLEMS,
        422: {"model": BatchResult | Problem, "description": "no event valid, or not a batch"},
        503: {"model": BatchResult, "description": "some events not acknowledged in time: retry those"},
    },
    openapi_extra=_body_spec("BatchIn"),
)
async def post_batch(request: Request) -> Response:
    """200 all accepted · 207 accepted + rejected · 422 none valid · 503 some not acknowledged (retry
    the ``failed`` ones, same event_id)."""
    gw = gateway_of(request)
    authorize(gw, request)
    cfg = gw.config
    body = await read_json_body(request, cfg.max_batch_bytes)
    events: Validated | None = validate_all_json(body)  # type: ignore[assignment]  # fast path: all valid
    if not events or len(events) > cfg.max_batch_events:
        # Something is wrong: find out what (shape, size: 4xx) or which events (per-event results).
        events = validate_items(batch_events(body, cfg.max_batch_events))
    meta = client_meta(request)
    results = await gw.ingest_batch(events, meta)
    counts = {"accepted": 0, "rejected": 0, "failed": 0}
    for r in results:
        counts[r["status"]] += 1
    headers = None
    if counts["failed"]:
        status, headers = 503, {"Retry-After": str(cfg.retry_after_s)}
        log.warning("batch events not acknowledged", extra={"request_id": meta.request_id, **counts})
    elif counts["rejected"]:
        status = 207 if counts["accepted"] else 422
        first = next(r["reason"] for r in results if r["status"] == "rejected")
        log.info("batch events rejected", extra={"request_id": meta.request_id, **counts, "first_reason": first})
    else:
        status = 200
    return json_response({**counts, "request_id": meta.request_id, "results": results}, status, headers)


@router.get("/health", summary="Liveness (no auth, no broker call)")
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/ready",
    summary="Readiness: the broker is reachable and the topic exists",
    responses={503: {"model": Problem, "description": "broker unreachable"}},
)
async def ready(request: Request) -> Response:
    gw = gateway_of(request)
    ok, detail = await gw.ready()
    if ok:
        return json_response({"status": "ready", "detail": detail})
    raise HTTPProblem(503, "not_ready", detail, headers={"Retry-After": "1"})


@router.get(
    "/metrics",
    summary="Counters of this process (Prometheus text, or ?format=json)",
    responses={200: {"content": {"text/plain": {}, "application/json": {}}}, 401: {"model": Problem}},
    openapi_extra={"security": [{"ApiKey": []}]},
)
async def metrics(request: Request, format: Literal["prometheus", "json"] = "prometheus") -> Response:
    gw = gateway_of(request)
    authorize(gw, request)
    if format == "json":
        return json_response(gw.metrics.as_dict(gw.producer))
    return PlainTextResponse(gw.metrics.prometheus(gw.producer), media_type="text/plain; version=0.0.4")


#: Metric labels: every path the router serves (anything else counts as ``other``).
ROUTE_LABELS = frozenset(route.path for route in router.routes if hasattr(route, "path"))
