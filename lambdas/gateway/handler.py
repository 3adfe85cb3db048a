"""AWS Lambda entry point: API Gateway HTTP API (payload format 2.0) → mangum → the same FastAPI app.

The ``Gateway`` (producer, serde, API keys) is created once per container, on the first invocation,
and reused while the container lives (a ``Container``; ``handler`` is the process's one). Every route
already waits for the broker's acknowledgement; before each invocation returns the producer is also
flushed, so nothing is left queued in a container that Lambda is about to freeze (anything that did not
make it was answered 503 and is logged).

    handler = "lambdas.gateway.handler.handler"     # Terraform: aws_lambda_function.handler
    invoke = Container(make_gateway); invoke(event, context); invoke.close()   # a container of your own
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mangum import Mangum

from eventbus.exceptions import DeliveryError
from eventbus.logging import configure_logging, get_logger
from eventbus.settings import Settings, get_settings
from lambdas.gateway.app import create_app
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.ingest import Gateway

log = get_logger("gateway.lambda")
_FLUSH_RESERVE_S = 0.5


class Container:
    """What one Lambda container keeps between invocations: the ``Gateway`` and its mangum adapter, built on
    the first call. ``make_gateway`` builds the Gateway (the real one by default)."""

    def __init__(self, make_gateway: Callable[[Settings, GatewayConfig], Gateway] = Gateway) -> None:
        self._make_gateway = make_gateway
        self.gateway: Gateway | None = None
        self._adapter: Mangum | None = None

    def _open(self) -> tuple[Gateway, Mangum]:
        if self.gateway is None or self._adapter is None:
            settings = get_settings()
            configure_logging(settings)
            self.gateway = self._make_gateway(settings, GatewayConfig())
            # lifespan="off": mangum would otherwise run startup/shutdown around *every* invocation.
            self._adapter = Mangum(create_app(gateway=self.gateway), lifespan="off")
        return self.gateway, self._adapter

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        gateway, adapter = self._open()
        try:
            return adapter(event, context)
        finally:
            _flush(gateway, context)

    def close(self) -> None:
        """The container's end: its producer flushed and closed (Lambda freezes a container instead)."""
        if self.gateway is not None:
            self.gateway.close()
        self.gateway = self._adapter = None


def _flush(gateway: Gateway, context: Any) -> None:
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 10_000)() / 1000
    try:
        gateway.producer.flush(max(0.1, min(10.0, remaining - _FLUSH_RESERVE_S)))
    except DeliveryError as exc:
        log.warning("messages left undelivered at the end of the invocation (answered 503)", extra={"error": str(exc)})


_CONTAINER = Container()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _CONTAINER(event, context)
