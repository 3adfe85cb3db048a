"""The deploy invariants of issue 12, checked offline: each check of infra/scripts/plan_assertions.py
catches what it claims on a small synthetic plan, the README's `*` list is what the policies use, and
`make package` refuses empty MWAA/EMR bundles. (The real plans are checked by `make tf-check`.)"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.infra import infra_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pa() -> ModuleType:
    return infra_script("plan_assertions")


@pytest.fixture(scope="module")
def package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_package", REPO / "infra" / "package.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rc(address: str, type_: str, after: dict) -> dict:
    return {"address": address, "mode": "managed", "type": type_,
            "change": {"actions": ["create"], "after": after, "after_unknown": {}}}


def _config(resources: list[dict]) -> dict:
    return {"root_module": {"module_calls": {"compute": {"module": {"resources": resources}}}}}


def test_services_and_schedules_must_wait_for_the_bootstrap(pa: ModuleType) -> None:
    invocation = {"type": "aws_lambda_invocation", "name": "bootstrap"}
    ordered = {"type": "aws_ecs_service", "name": "this", "depends_on": ["aws_lambda_invocation.bootstrap"]}
    unordered = {"type": "aws_scheduler_schedule", "name": "burst"}
    errors = pa.check_configuration({"configuration": _config([invocation, ordered, unordered])})
    assert errors == [
        "module.compute.aws_scheduler_schedule.burst: does not depend on the bootstrap invocation "
        "(starts before topics/roles)"
    ]


def test_a_constant_secret_version_and_a_plain_secret_string_are_reported(pa: ModuleType) -> None:
    const = {"type": "aws_secretsmanager_secret_version", "name": "k",
             "expressions": {"secret_string_wo_version": {"constant_value": 1}}}
    derived = {"type": "aws_secretsmanager_secret_version", "name": "d",
               "expressions": {"secret_string_wo_version": {"references": ["local.api_keys_version"]}}}
    plain = _rc("module.x.aws_secretsmanager_secret_version.p", "aws_secretsmanager_secret_version",
                {"secret_string": "hunter2"})
    errors = pa.check_plan({"resource_changes": [plain], "configuration": _config([const, derived])})
    assert errors == [
        "module.x.aws_secretsmanager_secret_version.p: secret_string is stored in the state; use secret_string_wo",
        "module.compute.aws_secretsmanager_secret_version.k: secret_string_wo_version is a constant; a changed "
        "value is never written",
    ]


def test_service_trust_needs_source_account_and_managed_policies_are_checked(pa: ModuleType) -> None:
    def role(name: str, service: str, condition: dict | None) -> dict:
        stmt = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
        if condition:
            stmt["Condition"] = condition
        return _rc(f"m.aws_iam_role.{name}", "aws_iam_role", {"assume_role_policy": json.dumps({"Statement": [stmt]})})

    changes = [
        role("ok", "scheduler.amazonaws.com", {"StringEquals": {"aws:SourceAccount": "123456789012"}}),
        role("bad", "emr-serverless.amazonaws.com", {"ArnLike": {"aws:SourceArn": "arn:x"}}),
        role("lambda", "lambda.amazonaws.com", None),  # not a documented key for Lambda: not required
        _rc("m.aws_iam_role_policy_attachment.vpc", "aws_iam_role_policy_attachment",
            {"policy_arn": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}),
        _rc("m.aws_iam_role_policy_attachment.mon", "aws_iam_role_policy_attachment",
            {"policy_arn": "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"}),
    ]
    errors = pa.check_plan({"resource_changes": changes})
    assert errors == [
        "m.aws_iam_role.bad: trust of emr-serverless.amazonaws.com without aws:SourceAccount",
        "m.aws_iam_role_policy_attachment.vpc: attaches AWS-managed arn:aws:iam::aws:policy/service-role/"
        "AWSLambdaVPCAccessExecutionRole (unchecked; use scoped inline statements)",
    ]


def test_iam_source_checker_reads_attached_managed_policies(pa: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('''
resource "aws_iam_role_policy_attachment" "xray" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}
resource "aws_iam_role_policy_attachment" "mon" {
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
''')
    checked, errors = pa.check_iam_source(tmp_path)
    assert checked == 3  # the unknown policy + the two documented statements of the known one
    assert len(errors) == 2 and all("AWSXRayDaemonWriteAccess (content unknown" in e for e in errors)


def test_scheduled_lambda_needs_async_retries_off(pa: ModuleType) -> None:
    schedule = _rc("module.compute.aws_scheduler_schedule.burst", "aws_scheduler_schedule", {})
    retries_on = _rc("module.compute.aws_lambda_function_event_invoke_config.burst",
                     "aws_lambda_function_event_invoke_config", {"maximum_retry_attempts": 2})
    assert pa.check_plan({"resource_changes": [schedule, retries_on]}) == [
        "module.compute.aws_scheduler_schedule.burst: its Lambda target keeps Lambda's async retries "
        "(event invoke config)"
    ]
    retries_on["change"]["after"]["maximum_retry_attempts"] = 0
    assert pa.check_plan({"resource_changes": [schedule, retries_on]}) == []


def test_service_created_log_groups_must_be_created_first(pa: ModuleType) -> None:
    def lg(name: str) -> dict:
        return _rc(f"l.aws_cloudwatch_log_group.{name}", "aws_cloudwatch_log_group",
                   {"name": name, "retention_in_days": 30, "kms_key_id": "k"})

    mwaa = _rc("m.aws_mwaa_environment.this", "aws_mwaa_environment", {"name": "env"})
    rds = _rc("a.aws_rds_cluster.this", "aws_rds_cluster",
              {"cluster_identifier": "db", "enabled_cloudwatch_logs_exports": ["postgresql"], "engine_version": "16",
               "storage_encrypted": True, "iam_database_authentication_enabled": True,
               "manage_master_user_password": True})
    groups = [lg(f"airflow-env-{t}") for t in pa.MWAA_LOG_TYPES if t != "Task"]
    sg_rules = (("aws_vpc_security_group_egress_rule", "client_to_postgres"),
                ("aws_vpc_security_group_ingress_rule", "aurora_from_client"))
    reach = [_rc(f'n.{t}.{n}["mwaa"]', t, {}) for t, n in sg_rules]  # the mwaa group reaches Aurora
    errors = pa.check_plan({"resource_changes": [mwaa, rds, *groups, *reach]})
    assert errors == [
        "m.aws_mwaa_environment.this: MWAA would create log groups without retention: ['Task']",
        "a.aws_rds_cluster.this: RDS would create /aws/rds/cluster/db/postgresql without retention",
    ]


def test_a_pinned_aurora_minor_is_reported(pa: ModuleType) -> None:
    rds = _rc("a.aws_rds_cluster.this", "aws_rds_cluster",
              {"cluster_identifier": "db", "engine_version": "16.6", "storage_encrypted": True,
               "iam_database_authentication_enabled": True, "manage_master_user_password": True})
    assert pa.check_plan({"resource_changes": [rds]}) == [
        "a.aws_rds_cluster.this: engine_version pins a minor version; AWS upgrades minors itself"
    ]


def test_kafka_grants_must_equal_the_catalog(pa: ModuleType) -> None:
    catalog = {"topics": {"a": {"writers": ["gateway"], "readers": ["spark"]}, "b": {"writers": ["spark"]}}}
    good = {"gateway": {"component": "gateway", "write": ["a"], "read": []},
            "emr": {"component": "spark", "write": ["b"], "read": ["a"]}}
    plan = {"planned_values": {"outputs": {"topic_access": {"value": good}}}}
    assert pa.check_access(plan, catalog) == []
    good["gateway"]["write"] = ["a", "b"]
    assert pa.check_access(plan, catalog) == [
        "topic_access[gateway].write = ['a', 'b'], catalog writers of gateway: ['a']"
    ]


def test_readme_lists_exactly_the_actions_granted_on_star(pa: ModuleType) -> None:
    readme = (REPO / "infra" / "README.md").read_text()
    section = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z0-9-]+:[A-Za-z]+)` \|", section, re.M))
    assert listed == pa.star_resource_actions() == set(pa.STAR_RESOURCE_ACTIONS)


def test_package_refuses_bundles_without_dags_or_entry_points(package: ModuleType, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / "mwaa_dags").mkdir(parents=True)
    (repo / "emr_jobs").mkdir()
    for shared in [*package.SHARED_CODE, "pyproject.toml"]:
        (repo / shared).symlink_to(REPO / shared)
    (repo / "mwaa_dags" / "helpers.py").write_text("X = 1  # not a DAG\n")
    (repo / "emr_jobs" / "lib.py").write_text("def f(): ...\n")
    monkeypatch.setattr(package, "REPO", repo)
    with pytest.raises(package.PackagingError, match="no DAG in"):
        package.build_mwaa(tmp_path / "out")
    with pytest.raises(package.PackagingError, match="no Spark job entry point"):
        package.build_emr(tmp_path / "out")

    (repo / "mwaa_dags" / "weather.py").write_text("from airflow.sdk import dag\n\n@dag(schedule=None)\ndef w(): ...\n")
    (repo / "emr_jobs" / "job.py").write_text('import sys\n\nif __name__ == "__main__":\n    sys.exit(0)\n')
    assert (package.build_mwaa(tmp_path / "out") / "dags" / "weather.py").is_file()
    emr = package.build_emr(tmp_path / "out")
    assert json.loads((emr / "entrypoints.json").read_text()) == {"entry_points": ["job.py"]}


def test_only_the_bootstrap_gets_the_aurora_master_secret(pa: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('''
module "compute" {
  bootstrap_environment = merge(local.common_env, {
    EB_PG_SECRET_ARN = module.aurora.master_secret_arn
  })
  simulators_environment = merge(local.common_env, {
    EB_PG_SECRET_ARN = module.aurora.master_secret_arn
  })
}
''')
    assert pa.check_master_secret_readers(tmp_path) == [
        f"{tmp_path.name}/main.tf:7: the Aurora master secret outside the bootstrap"
    ]
    assert pa.check_master_secret_readers() == []


def test_trust_source_check_covers_trusts_known_only_at_apply(pa: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('''
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_emrserverless_application.this.arn]
    }
  }
}
''')
    assert pa.check_trust_source(tmp_path) == [
        f"{tmp_path.name}/main.tf: trust of ['emr-serverless.amazonaws.com'] without aws:SourceAccount"
    ]
    assert pa.check_trust_source() == []
