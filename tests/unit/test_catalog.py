from __future__ import annotations

import re
from pathlib import Path

import pytest

from eventbus.catalog import load_catalog, parse_catalog
from eventbus.exceptions import ConfigurationError, UnknownTopicError
from eventbus.kafka.config import producer_config
from eventbus.settings import Settings
from tests.support.settings_models import settings_models

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def test_every_catalog_topic_is_complete_and_its_schema_parses() -> None:
    """Properties every catalog line must have, whatever the topics are (a new one is checked the same way)."""
    cat = load_catalog(Settings())
    assert len(cat) >= 1
    for spec in cat:
        assert spec.partitions >= 1 and spec.cleanup_policy in {"delete", "compact", "compact,delete"}, spec.name
        assert spec.config["cleanup.policy"] == spec.cleanup_policy
        assert (spec.retention_ms is None) == ("retention.ms" not in spec.config), spec.name
        assert spec.schema["type"] == "record" and spec.schema["fields"], spec.name  # parses, has fields
        fields = {f["name"] for f in spec.schema["fields"]}
        if IDENTIFIER.match(spec.key):  # a one-field key must be a field of the record it keys
            assert spec.key in fields, f"{spec.name}: key {spec.key} is not a field of {spec.schema_file.name}"
        assert spec.writers, f"{spec.name}: no writer — who produces it?"
        assert spec.readers, f"{spec.name}: no reader — who consumes it?"
        assert set(spec.writers) | set(spec.readers) <= set(cat.components), spec.name
        if spec.cleanup_policy.startswith("compact"):
            assert spec.retention_ms is None, f"{spec.name}: a compacted topic keeps the latest per key"
    assert len({s.schema["name"] for s in cat}) == len(cat)  # one schema per topic (TopicNameStrategy)


def test_unknown_topic_raises_with_the_known_names() -> None:
    with pytest.raises(UnknownTopicError, match="topic_typo.*topic_app_logs"):
        load_catalog(Settings()).get("topic_typo")


def test_aws_profile_uses_msk_default_replication() -> None:
    assert {s.replication_factor for s in load_catalog(Settings(profile="aws"))} == {-1}
    assert {s.replication_factor for s in load_catalog(Settings(profile="local"))} == {1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("topics: {t: {partitions: 0, cleanup_policy: delete, key: k, schema: a.avsc}}", "'partitions'"),
        ("topics: {t: {partitions: 1, cleanup_policy: keep, key: k, schema: a.avsc}}", "'cleanup_policy'"),
        ("topics: {t: {partitions: 1, cleanup_policy: delete, key: k}}", "missing key(s) schema"),
        ("topics: {t: {partitions: 1, cleanup_policy: delete, key: k, schema: nope.avsc}}", "nope.avsc"),
        ("- just a list", "'topics'"),
    ],
)
def test_bad_catalog_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "a.avsc").write_text('{"type": "record", "name": "A", "fields": []}')
    path = tmp_path / "topics.yaml"
    path.write_text(body)
    with pytest.raises(ConfigurationError) as err:
        parse_catalog(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_producer_contract_cannot_be_weakened() -> None:
    conf = producer_config(Settings(), "t", {})
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["compression.type"] != "none"
    with pytest.raises(ValueError, match="acks"):
        producer_config(Settings(), "t", {"acks": "1"})


def test_aws_profile_uses_msk_iam() -> None:
    s = Settings(profile="aws", kafka_bootstrap="b-1.msk:9098")
    assert s.kafka_auth == "iam" and s.aws_endpoint_url is None
    conf = producer_config(s, "t", {})
    assert conf["security.protocol"] == "SASL_SSL" and conf["sasl.mechanisms"] == "OAUTHBEARER"
    assert callable(conf["oauth_cb"])


def test_serverless_profile_keeps_only_configs_msk_serverless_accepts() -> None:
    spec = load_catalog(Settings()).get("topic_user_state")
    assert "segment.ms" in spec.config_for(serverless=False)
    assert spec.config_for(serverless=True) == {"cleanup.policy": "compact"}
    retained = load_catalog(Settings()).get("topic_app_events").config_for(serverless=True)
    assert retained == {"cleanup.policy": "delete", "retention.ms": str(7 * 86_400_000)}


def test_env_example_lists_every_setting() -> None:
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    models = settings_models()  # every settings model in the tree, shared and per component
    assert {"eventbus/settings.py:Settings", "lambdas/gateway/config.py:GatewayConfig"} <= set(models)
    missing = sorted(env for names in models.values() for env in names.values() if f"{env}=" not in text)
    assert missing == []
