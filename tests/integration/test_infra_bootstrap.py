"""The bootstrap Lambda handler against the real local broker + AWS emulator: topics from the catalog."""

from __future__ import annotations

from pathlib import Path

import yaml

from eventbus.kafka.admin import describe_topics
from eventbus.settings import get_settings
from lambdas.bootstrap import handler as handler_mod

REPO = Path(__file__).resolve().parents[2]
CATALOG = yaml.safe_load((REPO / "schemas" / "topics.yaml").read_text())["topics"]


def test_bootstrap_handler_applies_catalog_topics_and_is_idempotent() -> None:
    get_settings.cache_clear()
    first = handler_mod.handler({"source": "terraform"}, None)
    second = handler_mod.handler({"source": "terraform"}, None)
    assert first["ok"] is True and second["ok"] is True
    assert second["topics"]["created"] == [] and second["topics"]["reconfigured"] == {}
    assert set(second["schemas"]) == set(CATALOG) and second["schemas"] == first["schemas"]
    topics = {row["topic"]: row for row in describe_topics(get_settings())}
    for name, spec in CATALOG.items():
        assert topics[name]["present"], f"{name} missing after bootstrap"
        assert topics[name]["partitions"] == spec["partitions"]
