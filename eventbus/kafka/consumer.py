"""The one consumer factory."""

from __future__ import annotations

from typing import Any

import confluent_kafka

from eventbus.kafka.config import client_config
from eventbus.settings import Settings, get_settings


def make_consumer(
    settings: Settings | None = None, group_id: str = "eventbus", **overrides: Any
) -> confluent_kafka.Consumer:
    """A consumer reading from the earliest offset with explicit commits (at-least-once)."""
    settings = settings or get_settings()
    conf = client_config(settings, overrides.pop("client_id", group_id))
    conf.update(
        {
            "group.id": group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    conf.update(overrides)
    return confluent_kafka.Consumer(conf)
