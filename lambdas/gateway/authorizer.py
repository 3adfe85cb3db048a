"""API Gateway Lambda authorizer of the gateway's HTTP API (REQUEST type, payload 2.0, simple responses).

API Gateway answers 401 itself, without invoking anything, when a request has no ``x-api-key`` header (the
authorizer's identity source), and caches each key's verdict (``authorizer_result_ttl_in_seconds``): an
unauthenticated flood never reaches the gateway Lambda or its concurrency. The key check is the app's own
(``lambdas.gateway.auth.ApiKeys``: the secret's JSON list, constant-time compare); the app still checks too.

    handler = "lambdas.gateway.authorizer.handler"     # Terraform: modules/gateway aws_apigatewayv2_authorizer
    >>> handler({"headers": {"x-api-key": "local-dev-key"}})
    {'isAuthorized': True}
"""

from __future__ import annotations

from typing import Any

from eventbus.logging import configure_logging
from eventbus.settings import get_settings
from lambdas.gateway.auth import ApiKeys

_keys: ApiKeys | None = None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, bool]:
    global _keys
    if _keys is None:
        settings = get_settings()
        configure_logging(settings)
        _keys = ApiKeys.from_settings(settings)
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return {"isAuthorized": _keys.check(headers.get("x-api-key"))}
