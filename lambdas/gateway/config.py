"""The gateway's own settings: limits and deadlines (env ``EB_GATEWAY_*``, or keyword arguments)::

    >>> from lambdas.gateway.config import GatewayConfig
    >>> GatewayConfig().ack_timeout_ms, GatewayConfig(ack_timeout_ms=2000).ack_timeout_ms
    (5000, 2000)

How clients reach the gateway (``EB_GATEWAY_URL``, ``EB_GATEWAY_API_KEYS[_SECRET_ARN]``) is a connection
setting shared with the simulators: ``eventbus.settings.Settings``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eventbus.settings import ComponentSettings


class GatewayConfig(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="EB_GATEWAY_", frozen=True)

    topic: str = "topic_app_events"
    #: A request is answered 503 when the broker has not acknowledged within this deadline.
    ack_timeout_ms: int = Field(default=5000, ge=1500, le=60_000)
    #: librdkafka's message timeout is this much shorter than the deadline, so an unacknowledged message
    #: *fails* before the client is answered 503 instead of being delivered behind the client's back.
    ack_margin_ms: int = Field(default=1500, ge=500)
    max_event_bytes: int = Field(default=64 * 1024, ge=1024)
    max_batch_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=500, ge=1, le=10_000)
    #: Producer batching delay for the gateway (None = EB_KAFKA_LINGER_MS).
    linger_ms: int | None = Field(default=None, ge=0, le=1000)
    retry_after_s: int = Field(default=5, ge=1)
    #: How often keys from Secrets Manager are re-read (rotation).
    key_refresh_s: int = Field(default=300, ge=10)
    #: Readiness probes are cached this long (a metadata request per probe otherwise).
    ready_cache_s: float = Field(default=1.0, ge=0)

    @property
    def delivery_timeout_ms(self) -> int:
        return max(1000, self.ack_timeout_ms - self.ack_margin_ms)
