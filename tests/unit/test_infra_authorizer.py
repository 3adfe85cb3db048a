"""The HTTP API's Lambda authorizer (modules/gateway aws_apigatewayv2_authorizer -> lambdas.gateway.authorizer):
API Gateway payload 2.0 REQUEST events in, simple responses out; the same key check as the app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eventbus.settings import get_settings
from lambdas.gateway import authorizer


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("EB_GATEWAY_API_KEYS", "k-one,k-two")
    monkeypatch.delenv("EB_GATEWAY_API_KEYS_SECRET_ARN", raising=False)
    monkeypatch.setattr(authorizer, "_keys", None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def event(headers: dict[str, str]) -> dict[str, Any]:
    """What API Gateway sends a REQUEST authorizer (payload format 2.0; headers lower-cased)."""
    return {"version": "2.0", "type": "REQUEST", "routeKey": "$default", "headers": headers,
            "identitySource": list(headers.values())}


@pytest.mark.usefixtures("keys")
def test_a_configured_key_is_authorized_any_other_is_not() -> None:
    assert authorizer.handler(event({"x-api-key": "k-two"})) == {"isAuthorized": True}
    assert authorizer.handler(event({"X-Api-Key": "k-one"})) == {"isAuthorized": True}
    assert authorizer.handler(event({"x-api-key": "k-three"})) == {"isAuthorized": False}
    assert authorizer.handler(event({})) == {"isAuthorized": False}
    assert authorizer.handler({"headers": None}) == {"isAuthorized": False}
