"""The CDC relay's own settings (env ``EB_CDC_*``): what to read, where to write, how often to report.

The CLI's options default from here, and the CLI's values are passed back as overrides, so there is one
way to configure the relay — environment, ``.env`` or flags::

    >>> from lambdas.cdc.settings import RelayConfig
    >>> RelayConfig(tables="public.users, public.bookings").tables
    ('public.users', 'public.bookings')

Connections (``EB_PG_*``, ``EB_KAFKA_*``) are the shared ``eventbus.settings.Settings``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from eventbus.catalog import Publication, load_catalog
from eventbus.settings import ComponentSettings

CDC_TOPIC = "topic_cdc_changes"


def catalog_publication() -> Publication:
    """The publication the catalog names for the CDC topic: the tables' one home (``schemas/topics.yaml``)."""
    publication = load_catalog().get(CDC_TOPIC).publication
    if publication is None:
        raise ValueError(f"the catalog's {CDC_TOPIC} has no 'publication' (name + tables)")
    return publication


class RelayConfig(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="EB_CDC_")

    slot: str = "travel_cdc"
    #: Publication the relay reads (the AWS bootstrap creates it as the tables' owner); default: the catalog's.
    publication: str = Field(default_factory=lambda: catalog_publication().name)
    #: Tables to publish (comma-separated in the environment); default: the catalog's.
    tables: Annotated[tuple[str, ...], NoDecode] = Field(default_factory=lambda: catalog_publication().tables)
    #: Catalog topic (schema, and the default destination).
    topic: str = CDC_TOPIC
    #: Produce to this topic instead of the catalog's (same schema): a second relay with its own slot and
    #: tables writing to its own topic set on a shared cluster (like the simulators' ``kafka.topic_prefix``).
    kafka_topic: str | None = None
    #: Debezium ``source.name`` (topic.prefix).
    server_name: str = "travel"
    snapshot: bool = True
    resnapshot: bool = False
    max_inflight: int = Field(default=100_000, ge=1)
    feedback_interval: float = Field(default=0.2, gt=0)
    status_interval: float = Field(default=10.0, gt=0)
    #: Seconds between heartbeat messages (0 = off).
    heartbeat_s: float = Field(default=10.0, ge=0)
    log_interval: float = Field(default=10.0, gt=0)
    #: /metrics and /status on 127.0.0.1:PORT (0 = off).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Producer linger.ms (None = EB_KAFKA_LINGER_MS).
    linger_ms: int | None = Field(default=None, ge=0, le=1000)
    #: Within ECS's / supervisord's stop timeout (30 s).
    drain_timeout: float = Field(default=20.0, ge=0)
    retry_max_s: float = Field(default=30.0, gt=0)

    @field_validator("tables", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value
