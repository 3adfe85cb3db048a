"""The bootstrap Lambda (invoked by Terraform on apply) against AWS APIs in moto: the AWS half of
"applies the catalog". Topic creation needs a real broker: tests/integration/test_infra_bootstrap.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import yaml

from eventbus.kafka.admin import ApplyReport
from eventbus.settings import get_settings
from lambdas.bootstrap import apply as bootstrap_apply
from lambdas.bootstrap import handler as handler_mod

REPO = Path(__file__).resolve().parents[2]
CATALOG = yaml.safe_load((REPO / "schemas" / "topics.yaml").read_text())["topics"]
REGISTRY = "travel-events-it"



@pytest.fixture
def aws_profile(aws_mock: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The environment Terraform gives the bootstrap Lambda; Kafka replaced by a recorder."""
    for key, value in {
        "EB_PROFILE": "aws",
        "EB_AWS_REGION": "us-east-1",
        "EB_REGISTRY_NAME": REGISTRY,
        "EB_KAFKA_BOOTSTRAP": "b-1.example.kafka-serverless.us-east-1.amazonaws.com:9098",
        "EB_LAKE_BUCKET": "tf-owned-lake",
        "EB_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("EB_AWS_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()
    calls: list[str] = []

    def fake_apply_topics(settings, *args, **kwargs):  # the broker half is an integration test
        calls.append(settings.kafka_bootstrap)
        return ApplyReport(created=sorted(CATALOG))

    monkeypatch.setattr(bootstrap_apply, "apply_topics", fake_apply_topics)
    yield calls
    get_settings.cache_clear()


def _terraform_registry(glue) -> dict[str, str]:
    """What infra/modules/registry creates: one AVRO/BACKWARD schema per topic, named after it."""
    glue.create_registry(RegistryName=REGISTRY)
    versions = {}
    for topic, spec in CATALOG.items():
        created = glue.create_schema(
            RegistryId={"RegistryName": REGISTRY},
            SchemaName=topic,
            DataFormat="AVRO",
            Compatibility="BACKWARD",
            SchemaDefinition=(REPO / "schemas" / spec["schema"]).read_text(),
        )
        versions[topic] = created["SchemaVersionId"]
    return versions


def test_bootstrap_registers_every_catalog_schema_under_its_topic(aws_profile: list[str]) -> None:
    result = handler_mod.handler({"source": "terraform", "triggers": {}}, None)
    assert result["ok"] is True
    assert aws_profile == ["b-1.example.kafka-serverless.us-east-1.amazonaws.com:9098"]
    assert set(result["schemas"]) == set(CATALOG)
    glue = boto3.client("glue", region_name="us-east-1")
    for topic, spec in CATALOG.items():
        schema = glue.get_schema(SchemaId={"RegistryName": REGISTRY, "SchemaName": topic})
        assert (schema["DataFormat"], schema["Compatibility"]) == ("AVRO", "BACKWARD")
        got = glue.get_schema_version(SchemaVersionId=result["schemas"][topic])
        assert json.loads(got["SchemaDefinition"]) == json.loads((REPO / "schemas" / spec["schema"]).read_text())
    json.dumps(result)  # aws_lambda_invocation stores the result: it must be JSON


def test_bootstrap_agrees_with_terraform_registry_and_creates_nothing_terraform_owns(aws_profile: list[str]) -> None:
    glue = boto3.client("glue", region_name="us-east-1")
    terraform_versions = _terraform_registry(glue)
    first = handler_mod.handler({}, None)
    second = handler_mod.handler({}, None)
    # Same names and definitions as Terraform's: the bootstrap finds Terraform's versions, adds none.
    assert first["schemas"] == terraform_versions == second["schemas"]
    for topic in CATALOG:
        schema = glue.get_schema(SchemaId={"RegistryName": REGISTRY, "SchemaName": topic})
        assert schema["LatestSchemaVersion"] == 1, f"{topic}: bootstrap registered a duplicate version"
    # Buckets and the DB secret belong to Terraform in the aws profile.
    assert first["buckets_created"] == [] and first["secret_created"] is False
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
