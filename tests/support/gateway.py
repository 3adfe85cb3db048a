"""Test helpers for the gateway (not shipped in its Lambda zip): sample events and a gateway on librdkafka's
built-in mock cluster (a real producer acknowledged by an in-process broker, no services needed).

    >>> gw = mock_cluster_gateway(settings)
    >>> client = TestClient(create_app(gateway=gw))
    >>> client.post("/events/user", json=sample_event(), headers={"x-api-key": "local-dev-key"})
"""

from __future__ import annotations

import itertools
from typing import Any

from eventbus.settings import Settings
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.ingest import Gateway, make_producer

_seq = itertools.count()
TOPIC = GatewayConfig().topic  # where the gateway writes (topic_app_events)


def sample_event(**overrides: Any) -> dict[str, Any]:
    """A valid user event (JSON-ready); ``overrides`` replace or add fields (``None`` values are kept)."""
    n = next(_seq)
    event: dict[str, Any] = {
        "event_type": "search",
        "event_ts": 1_735_689_600_000 + n,
        "user_id": f"user-{n % 97}",
        "session_id": f"session-{n % 31}",
        "platform": "ios",
        "device_id": "dev-1",
        "app_version": "5.2.0",
        "locale": "vi-VN",
        "page": "search_results",
        "destination": "Da Nang",
        "properties": {"query": "beach hotel"},
    }
    event.update(overrides)
    return event


def sample_booking(**overrides: Any) -> dict[str, Any]:
    booking: dict[str, Any] = {
        "event_type": "booking_created",
        "booking_id": "bk-1",
        "hotel_id": "h-7",
        "amount": 2_450_000.0,
        "currency": "VND",
        "page": "checkout",
    }
    return sample_event(**{**booking, **overrides})


def mock_cluster_gateway(settings: Settings, config: GatewayConfig | None = None, **producer: Any) -> Gateway:
    """A ``Gateway`` whose producer talks to librdkafka's mock cluster (``test.mock.num.brokers``)."""
    config = config or GatewayConfig()
    producer = {"test.mock.num.brokers": 1, **producer}
    return Gateway(settings, config, producer=make_producer(settings, config, **producer))


def unreachable_gateway(settings: Settings, ack_timeout_ms: int = 1500) -> Gateway:
    """A ``Gateway`` whose broker address refuses connections: every event times out (503)."""
    config = GatewayConfig(ack_timeout_ms=ack_timeout_ms, ack_margin_ms=500)
    unreachable = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    return Gateway(unreachable, config, serde=None)
