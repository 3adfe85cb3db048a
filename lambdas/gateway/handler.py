"""AWS Lambda entry point: API Gateway HTTP API (payload format 2.0) → mangum → the same FastAPI app.

The ``Gateway`` (producer, serde, API keys) is created once per container, on the first invocation,
and reused while the container lives (a ``Container``; ``handler`` is the process's one). Every route
already waits for the broker's acknowledgement; before each invocation returns the producer is also
flushed, so nothing is left queued in a container that Lambda is about to freeze (anything that did not
make it was answered 503 and is logged).

Building the Gateway calls AWS (the schema in Glue, the API keys in Secrets Manager). When that fails (a
throttled Glue during a scale-out, an unreachable Secrets Manager) the invocation is answered 503 with
``Retry-After`` and the request id, in the gateway's Problem shape, and the next invocation tries again;
a configuration the gateway refuses (a bad ``EB_*`` setting) is a 500 that says so. Either is logged as
one line. Without this, API Gateway answered its own bare 500 ``Internal Server Error``.

    handler = "lambdas.gateway.handler.handler"     # Terraform: aws_lambda_function.handler
    invoke = Container(make_gateway); invoke(event, context); invoke.close()   # a container of your own
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mangum import Mangum

from eventbus.exceptions import ConfigurationError, DeliveryError
from eventbus.logging import configure_logging, get_logger
from eventbus.settings import Settings, get_settings
from lambdas.gateway.app import create_app
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.ids import new_request_id
from lambdas.gateway.ingest import Gateway
from lambdas.gateway.problems import JSON, HTTPProblem

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
        try:
            gateway, adapter = self._open()
        except Exception as exc:  # every failure to start becomes an answer, not API Gateway's bare 500
            self.close()
            return _not_started(event, exc)
        try:
            return adapter(event, context)
        finally:
            _flush(gateway, context)

    def close(self) -> None:
        """The container's end: its producer flushed and closed (Lambda freezes a container instead)."""
        if self.gateway is not None:
            self.gateway.close()
        self.gateway = self._adapter = None


def _not_started(event: dict[str, Any], exc: Exception) -> dict[str, Any]:
    """The API Gateway (payload 2.0) answer when the container could not build its Gateway."""
    rid = (event.get("requestContext") or {}).get("requestId") or new_request_id()
    if isinstance(exc, ConfigurationError):
        log.error("the gateway cannot start: its configuration is refused", extra={"request_id": rid,
                                                                                 "error": str(exc)})
        problem = HTTPProblem(500, "misconfigured", "the gateway's configuration is refused; it was logged")
    else:
        try:
            retry_after = GatewayConfig().retry_after_s
        except ConfigurationError:
            retry_after = GatewayConfig.model_fields["retry_after_s"].default
        log.error("the gateway could not start; answered 503", extra={"request_id": rid,
                                                                     "error": f"{type(exc).__name__}: {exc}"})
        problem = HTTPProblem(503, "unavailable", "the gateway could not start (a dependency did not answer); "
                              "nothing was stored — retry the same request", headers={"Retry-After": str(retry_after)})
    response = problem.response(rid)
    headers = {"content-type": JSON, "x-request-id": rid, **{k.lower(): v for k, v in problem.headers.items()}}
    return {"statusCode": problem.status, "isBase64Encoded": False, "body": bytes(response.body).decode(),
            "headers": headers}


def _flush(gateway: Gateway, context: Any) -> None:
    remaining = getattr(context, "get_remaining_time_in_millis", lambda: 10_000)() / 1000
    try:
        gateway.producer.flush(max(0.1, min(10.0, remaining - _FLUSH_RESERVE_S)))
    except DeliveryError as exc:
        log.warning("messages left undelivered at the end of the invocation (answered 503)", extra={"error": str(exc)})


_CONTAINER = Container()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _CONTAINER(event, context)
