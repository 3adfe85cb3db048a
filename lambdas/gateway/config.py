"""The gateway's own knobs (env ``EB_GATEWAY_*``), beside the shared ``eventbus.settings.Settings``.

The connection settings (broker, registry, API keys) come from the shared model; these are the limits
and deadlines of the HTTP edge::

    >>> from lambdas.gateway.config import GatewayConfig
    >>> GatewayConfig().ack_timeout_ms
    5000
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# TODO(lead): move these into eventbus.settings.Settings (gateway section) — kept here so the shared
# model is not edited by a component.


class GatewayConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EB_GATEWAY_", env_file=".env", extra="ignore")

    topic: str = "topic_app_events"
    #: A request is answered 503 when the broker has not acknowledged within this deadline.
    ack_timeout_ms: int = Field(default=5000, ge=1500, le=60_000)
    #: librdkafka's own message timeout is set this much shorter than the deadline, so a message that
    #: was not acknowledged in time *fails* (delivery report with an error) before the client is
    #: answered 503 — it is not delivered later behind the client's back.
    ack_margin_ms: int = Field(default=1500, ge=500)
    max_event_bytes: int = Field(default=64 * 1024, ge=1024)
    max_batch_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=500, ge=1, le=10_000)
    #: Producer batching delay; a few ms buys throughput at a small latency cost.
    linger_ms: int | None = Field(default=None, ge=0, le=1000)
    retry_after_s: int = Field(default=5, ge=1)
    #: How often keys from Secrets Manager are re-read (rotation).
    key_refresh_s: int = Field(default=300, ge=10)
    #: Readiness probes are cached this long (a metadata request per probe otherwise).
    ready_cache_s: float = Field(default=1.0, ge=0)

    @property
    def delivery_timeout_ms(self) -> int:
        return max(1000, self.ack_timeout_ms - self.ack_margin_ms)
