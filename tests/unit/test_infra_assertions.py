"""The invariant checks tf-check applies to plans and policy source catch what they claim to."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.support.infra import infra_script


@pytest.fixture(scope="module")
def pa() -> ModuleType:
    return infra_script("plan_assertions")


def _rc(address: str, type_: str, after: dict, unknown: dict | None = None) -> dict:
    return {
        "address": address,
        "mode": "managed",
        "type": type_,
        "change": {"actions": ["create"], "after": after, "after_unknown": unknown or {}},
    }


def _bucket(name: str, algo: str) -> list[dict]:
    return [
        _rc(f"module.storage.aws_s3_bucket.{name}", "aws_s3_bucket", {}),
        _rc(
            f"module.storage.aws_s3_bucket_server_side_encryption_configuration.{name}",
            "aws_s3_bucket_server_side_encryption_configuration",
            {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": algo}]}]},
        ),
        _rc(
            f"module.storage.aws_s3_bucket_public_access_block.{name}",
            "aws_s3_bucket_public_access_block",
            dict.fromkeys(
                ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"), True
            ),
        ),
        _rc(f"module.storage.aws_s3_bucket_versioning.{name}", "aws_s3_bucket_versioning", {}),
    ]


def test_sse_s3_is_refused_on_every_bucket_including_the_access_log_bucket(pa: ModuleType) -> None:
    ok = pa.check_plan({"resource_changes": _bucket("logs", "aws:kms") + _bucket('this["lake"]', "aws:kms")})
    assert ok == []
    bad = pa.check_plan({"resource_changes": _bucket("logs", "AES256") + _bucket('this["lake"]', "AES256")})
    assert len(bad) == 2 and all("expected aws:kms" in e for e in bad)


def test_bucket_missing_its_public_access_block_is_reported(pa: ModuleType) -> None:
    changes = [c for c in _bucket('this["lake"]', "aws:kms") if c["type"] != "aws_s3_bucket_public_access_block"]
    assert any("aws_s3_bucket_public_access_block" in e for e in pa.check_plan({"resource_changes": changes}))


def test_log_groups_need_kms_and_retention(pa: ModuleType) -> None:
    good = _rc(
        "a.aws_cloudwatch_log_group.x", "aws_cloudwatch_log_group", {"retention_in_days": 30}, {"kms_key_id": True}
    )
    bad = _rc("a.aws_cloudwatch_log_group.y", "aws_cloudwatch_log_group", {"retention_in_days": 0, "kms_key_id": None})
    errors = pa.check_plan({"resource_changes": [good, bad]})
    assert len(errors) == 2 and all(".y" in e for e in errors)


def test_open_ingress_and_missing_logical_replication_are_reported(pa: ModuleType) -> None:
    changes = [
        _rc(
            "n.aws_vpc_security_group_ingress_rule.x", "aws_vpc_security_group_ingress_rule", {"cidr_ipv4": "0.0.0.0/0"}
        ),
        _rc(
            "a.aws_rds_cluster_parameter_group.this",
            "aws_rds_cluster_parameter_group",
            {"parameter": [{"name": "rds.force_ssl", "value": "1"}]},
        ),
    ]
    errors = pa.check_plan({"resource_changes": changes})
    assert any("open to the internet" in e for e in errors)
    assert any("rds.logical_replication" in e for e in errors)


def test_known_lambda_environment_is_checked_against_settings(pa: ModuleType) -> None:
    fn = _rc(
        "g.aws_lambda_function.this",
        "aws_lambda_function",
        {
            "vpc_config": [{}],
            "tracing_config": [{"mode": "Active"}],
            "kms_key_arn": "arn:k",
            "environment": [{"variables": {"EB_PROFILE": "aws", "EB_KAFKA_BOOTSRAP": "typo:9098"}}],
        },
    )
    errors = pa.check_plan({"resource_changes": [fn]}, pa.settings_env_names())
    assert errors == ["g.aws_lambda_function.this: EB_KAFKA_BOOTSRAP is read by no settings model "
                      "(eventbus.settings or a component's)"]


def test_env_names_come_from_every_model_with_their_aliases(pa: ModuleType) -> None:
    """tf-check's parsed names = what pydantic-settings reads: prefix + field, or each validation alias (so
    the EB_EMR_* names Terraform's emr_job_environment sets count as emr_jobs' SparkSettings fields)."""
    from pydantic import AliasChoices

    from emr_jobs.config import SparkSettings
    from eventbus.settings import Settings
    from lambdas.bootstrap.settings import BootstrapSettings

    names = pa.settings_env_names()
    for model in (Settings, SparkSettings, BootstrapSettings):
        prefix = model.model_config.get("env_prefix") or ""
        for field, info in model.model_fields.items():
            alias = info.validation_alias
            want = ({c for c in alias.choices if isinstance(c, str)} if isinstance(alias, AliasChoices)
                    else {alias} if isinstance(alias, str) else {prefix + field})
            assert {w.upper() for w in want} <= names, (model.__name__, field)
    assert {"EB_EMR_APPLICATION_ID", "EB_EMR_EXECUTION_ROLE_ARN", "EB_BOOTSTRAP_PG_REPLICATION_SECRET_ARN"} <= names
    # what moved out of the shared model is no longer accepted under its old name
    assert not {"EB_PG_REPLICATION_SECRET_ARN", "EB_ARTIFACTS_BUCKET", "EB_PG_SECRET_NAME"} & names
    n, errors = pa.check_env_source()
    assert n > 20 and errors == []


def test_iam_source_rejects_wildcards_but_allows_deny_and_non_resource_actions(pa: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text("""
data "aws_iam_policy_document" "x" {
  statement {
    actions   = ["s3:*"]
    resources = ["arn:aws:s3:::b"]
  }
  statement {
    actions   = ["kafka-cluster:WriteData"]
    resources = ["*"]
  }
  statement {
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["*"]
  }
  statement {
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
}
""")
    checked, errors = pa.check_iam_source(tmp_path)
    assert checked == 4
    assert len(errors) == 2
    assert "wildcard action 's3:*'" in errors[0] and "kafka-cluster:WriteData" in errors[1]


def test_the_real_policy_source_is_clean(pa: ModuleType) -> None:
    checked, errors = pa.check_iam_source()
    assert checked > 30 and errors == []


def test_checkov_skips_need_a_written_reason(tmp_path: Path) -> None:
    checkov_runner = infra_script("checkov_runner")
    cfg = tmp_path / ".checkov.yaml"
    cfg.write_text("skip-check:\n  - CKV_AWS_1   # a real reason that explains the exception\n  - CKV_AWS_2\n")
    ids, problems = checkov_runner.audit_skips(cfg)
    assert ids == ["CKV_AWS_1", "CKV_AWS_2"]
    assert len(problems) == 1 and "CKV_AWS_2" in problems[0]
    real_ids, real_problems = checkov_runner.audit_skips()
    assert real_ids and real_problems == []
