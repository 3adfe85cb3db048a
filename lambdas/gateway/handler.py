"""AWS Lambda entry point: API Gateway HTTP API (payload format 2.0) → mangum → the same FastAPI app.

The ``Gateway`` (producer, serde, API keys) is created once per container, on the first invocation,
and reused while the container lives. Every route already waits for the broker's acknowledgement;
before each invocation returns the producer is also flushed, so nothing is left queued in a container
that Lambda is about to freeze (anything that did not make it was answered 503 and is logged).

    handler = "lambdas.gateway.handler.handler"     # Terraform: aws_lambda_function.handler
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from eventbus.exceptions import DeliveryError
from eventbus.logging import configure_logging, get_logger
from eventbus.settings import get_settings
from lambdas.gateway.app import create_app
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.ingest import Gateway

log = get_logger("gateway.lambda")
_FLUSH_RESERVE_S = 0.5
_gateway: Gateway | None = None
_adapter: Mangum | None = None


def _container() -> tuple[Gateway, Mangum]:
    global _gateway, _adapter
    if _gateway is None or _adapter is None:
        settings = get_settings()
        configure_logging(settings)
        _gateway = Gateway(settings, GatewayConfig())
        # lifespan="off": mangum would otherwise run startup/shutdown around *every* invocation.
        _adapter = Mangum(create_app(gateway=_gateway), lifespan="off")
    return _gateway, _adapter


def _flush(gateway: Gateway, context: Any) -> None:
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 10_000)() / 1000
    try:
        gateway.producer.flush(max(0.1, min(10.0, remaining - _FLUSH_RESERVE_S)))
    except DeliveryError as exc:
        log.warning("messages left undelivered at the end of the invocation (answered 503)", extra={"error": str(exc)})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    gateway, adapter = _container()
    try:
        return adapter(event, context)
    finally:
        _flush(gateway, context)


def reset() -> None:
    """Drop the container's gateway (tests; a new container in Lambda terms)."""
    global _gateway, _adapter
    if _gateway is not None:
        _gateway.close()
    _gateway = _adapter = None
