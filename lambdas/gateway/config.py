"""The gateway's limits and deadlines: a typed view of the ``gateway_*`` fields of the one settings model
(env ``EB_GATEWAY_*``), with overrides for tests::

    >>> from lambdas.gateway.config import GatewayConfig
    >>> GatewayConfig.from_settings(Settings()).ack_timeout_ms
    5000
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from eventbus.settings import Settings, get_settings


class GatewayConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str = "topic_app_events"
    ack_timeout_ms: int
    ack_margin_ms: int
    max_event_bytes: int
    max_batch_bytes: int
    max_batch_events: int
    linger_ms: int | None
    retry_after_s: int
    key_refresh_s: int
    ready_cache_s: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> GatewayConfig:
        """The ``gateway_*`` settings without their prefix; ``overrides`` replace single values."""
        settings = settings or get_settings()
        prefix = "gateway_"
        values = {
            name: getattr(settings, prefix + name) for name in cls.model_fields if hasattr(settings, prefix + name)
        }
        return cls(**{**values, **overrides})

    @property
    def delivery_timeout_ms(self) -> int:
        return max(1000, self.ack_timeout_ms - self.ack_margin_ms)
