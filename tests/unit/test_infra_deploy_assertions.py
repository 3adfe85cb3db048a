"""infra/scripts/deploy_assertions.py (run on every offline plan by `make tf-check`) catches each defect a first
real apply or destroy would hit: fed a plan with the defect, it names it; fed the fixed form, it is quiet."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra" / "scripts"))
import deploy_assertions

sys.path.pop(0)


def plan(*changes: tuple[str, str, dict[str, Any]], variables: dict[str, Any] | None = None,
         compute_refs: list[str] | None = None, snapshot: dict[str, Any] | None = None) -> dict[str, Any]:
    root: dict[str, Any] = {"resources": [], "module_calls": {}}
    if compute_refs is not None:
        root["module_calls"]["compute"] = {"expressions": {"bootstrap_triggers": {"references": compute_refs}},
                                           "module": {}}
    if snapshot is not None:
        root["module_calls"]["aurora"] = {"module": {"resources": [
            {"address": "aws_rds_cluster.this", "type": "aws_rds_cluster",
             "expressions": {"final_snapshot_identifier": snapshot}}]}}
    return {
        "variables": {k: {"value": v} for k, v in (variables or {}).items()},
        "resource_changes": [{"address": a, "type": t, "mode": "managed",
                              "change": {"actions": ["create"], "after": after, "after_unknown": {}}}
                             for a, t, after in changes],
        "configuration": {"root_module": root},
    }


@pytest.mark.parametrize(("defect", "fixed", "message"), [
    (plan(("module.gateway.aws_lambda_function.this", "aws_lambda_function", {"reserved_concurrent_executions": 50}),
          variables={"lambda_reserved_concurrency": {"gateway": None}}),
     plan(("module.gateway.aws_lambda_function.this", "aws_lambda_function", {"reserved_concurrent_executions": -1}),
          variables={"lambda_reserved_concurrency": {"gateway": None}}),
     "reserves concurrency"),
    (plan(("r", "aws_apigatewayv2_route", {"route_key": "$default", "authorization_type": "NONE"})),
     plan(("r", "aws_apigatewayv2_route", {"route_key": "$default", "authorization_type": "CUSTOM"}),
          ("h", "aws_apigatewayv2_route", {"route_key": "GET /health", "authorization_type": "NONE"})),
     "without the authorizer"),
    (plan(("module.storage.aws_s3_bucket_lifecycle_configuration.checkpoints", "aws_s3_bucket_lifecycle_configuration",
           {"rule": [{"id": "x", "expiration": [{"days": 30}]}]})),
     plan(("module.storage.aws_s3_bucket_lifecycle_configuration.checkpoints", "aws_s3_bucket_lifecycle_configuration",
           {"rule": [{"id": "x", "expiration": [{"days": 0, "expired_object_delete_marker": True}]}]})),
     "expires current checkpoint objects"),
    (plan(("c", "aws_msk_configuration", {"kafka_versions": ["4.0.x"], "server_properties": "x=1"})),
     plan(("c", "aws_msk_configuration", {"kafka_versions": ["4.0.x.kraft"], "server_properties": "x=1"})),
     "not an MSK Kafka version"),
    (plan(("k", "aws_msk_cluster", {"number_of_broker_nodes": 2}),
          ("c", "aws_msk_configuration", {"kafka_versions": ["3.9.x"], "server_properties":
                                          "default.replication.factor=3\nmin.insync.replicas=2"})),
     plan(("k", "aws_msk_cluster", {"number_of_broker_nodes": 2}),
          ("c", "aws_msk_configuration", {"kafka_versions": ["3.9.x"], "server_properties":
                                          "default.replication.factor=2\nmin.insync.replicas=1"})),
     "topic creation fails"),
    (plan(("e", "aws_ecr_repository", {"force_delete": False}), variables={"force_destroy_buckets": True}),
     plan(("e", "aws_ecr_repository", {"force_delete": True}), variables={"force_destroy_buckets": True}),
     "force_delete"),
    (plan(("f", "aws_lambda_function", {"environment": [{"variables": {"EB_PG_HOST": "db"}}]})),
     plan(("f", "aws_lambda_function", {"environment": [{"variables": {"EB_PG_HOST": "db",
                                                                       "EB_PG_SSLMODE": "verify-full"}}]})),
     "verify-full"),
    (plan(compute_refs=["module.aurora.instance_identifiers"]),
     plan(compute_refs=["module.aurora.cluster_resource_id", "module.aurora"]),
     "cluster_resource_id"),
    (plan(snapshot={"constant_value": "travel-ds-oltp-final"}),
     plan(snapshot={"references": ["terraform_data.final_snapshot_suffix.output"]}),
     "constant final_snapshot_identifier"),
])
def test_each_defect_is_named_and_its_fix_passes(defect: dict[str, Any], fixed: dict[str, Any], message: str) -> None:
    errors = deploy_assertions.check_deploy(defect)
    assert any(message in e for e in errors), errors
    assert deploy_assertions.check_deploy(fixed) == []
