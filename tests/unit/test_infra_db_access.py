"""MWAA's database access (the maps DAG reads bookings from Aurora), checked offline: each workload reads
only its own DB login secret, the MWAA security group must reach Aurora, MWAA gets no EMR or bucket-wide
list rights, and the bootstrap grants the DAGs' role SELECT on what the maps DAG queries."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


@pytest.fixture(scope="module")
def pa() -> ModuleType:
    sys.path.insert(0, str(INFRA / "scripts"))
    try:
        import plan_assertions
    finally:
        sys.path.remove(str(INFRA / "scripts"))
    return plan_assertions


def _rc(address: str, type_: str) -> dict:
    return {"address": address, "mode": "managed", "type": type_,
            "change": {"actions": ["create"], "after": {"name": "env"}, "after_unknown": {}}}


def test_each_workload_reads_only_its_own_db_login(pa: ModuleType, tmp_path: Path) -> None:
    assert pa.check_db_secret_readers() == []  # the real configuration
    root = tmp_path / "infra"
    root.mkdir()
    for tf in ("iam.tf", "main.tf"):
        shutil.copy(INFRA / tf, root / tf)
    iam = (root / "iam.tf").read_text()
    own = re.search(r"^(\s*mwaa\s*=\s*)\[module\.aurora\.dags_secret_arn\]", iam, re.M)
    assert own, "workload_secrets.mwaa should be the DAGs' own login secret"
    # MWAA handed the OLTP app's secret instead of its own: read and login both point at the app's role.
    (root / "iam.tf").write_text(iam.replace(own.group(0), own.group(1) + "[module.aurora.app_secret_arn]"))
    main = (root / "main.tf").read_text()
    (root / "main.tf").write_text(main.replace("EB_PG_SECRET_ARN = module.aurora.dags_secret_arn",
                                               "EB_PG_SECRET_ARN = module.aurora.app_secret_arn"))
    assert pa.check_db_secret_readers(root) == [
        "infra/main.tf: simulators and mwaa share the DB login app_secret_arn; give each its own role "
        "(modules/aurora login_roles + the bootstrap)"
    ]
    # A policy that reads a second login besides its own.
    (root / "main.tf").write_text(main)
    (root / "iam.tf").write_text(iam.replace(
        own.group(0), own.group(1) + "[module.aurora.dags_secret_arn, module.aurora.replication_secret_arn]"))
    assert pa.check_db_secret_readers(root) == [
        "infra/iam.tf: workload_secrets.mwaa reads Aurora logins ['dags_secret_arn', 'replication_secret_arn'], "
        "but it logs in with ['dags_secret_arn'] (EB_PG_SECRET_ARN in main.tf)"
    ]


def test_mwaa_security_group_must_reach_postgres(pa: ModuleType) -> None:
    mwaa = _rc("module.mwaa[0].aws_mwaa_environment.this", "aws_mwaa_environment")
    egress = _rc('module.network.aws_vpc_security_group_egress_rule.client_to_postgres["mwaa"]',
                 "aws_vpc_security_group_egress_rule")
    ingress = _rc('module.network.aws_vpc_security_group_ingress_rule.aurora_from_client["mwaa"]',
                  "aws_vpc_security_group_ingress_rule")
    other = _rc('module.network.aws_vpc_security_group_ingress_rule.aurora_from_client["simulators"]',
                "aws_vpc_security_group_ingress_rule")
    def reach(changes: list[dict]) -> list[str]:
        return [e for e in pa.check_plan({"resource_changes": changes}) if "security group" in e]

    assert reach([mwaa, egress, ingress, other]) == []
    assert reach([mwaa, other]) == [
        "module.mwaa[0].aws_mwaa_environment.this: its security group `mwaa` has no egress to Aurora "
        "(client_to_postgres); set postgres = true for it (network module)",
        "module.mwaa[0].aws_mwaa_environment.this: its security group `mwaa` has no Aurora ingress from it "
        "(aurora_from_client); set postgres = true for it (network module)",
    ]


def test_mwaa_policy_has_no_emr_rights_and_no_bucket_listing() -> None:
    iam = re.sub(r"#[^\n]*", "", (INFRA / "iam.tf").read_text())
    mwaa = iam.split('data "aws_iam_policy_document" "mwaa_app"', 1)[1]
    dags_code = "\n".join(p.read_text() for p in (REPO / "mwaa_dags").rglob("*.py"))
    if "emr-serverless" not in dags_code and "start_job_run" not in dags_code:
        assert "emr-serverless:" not in mwaa and "iam:PassRole" not in mwaa
    if "list_objects" not in dags_code:
        assert "s3:ListBucket" not in mwaa and "s3:List" not in mwaa
    raw_zone = '["${module.storage.bucket_arns["lake"]}/${module.storage.lake_zones.raw}*"]'
    assert re.findall(r"resources\s*=\s*(.*)", mwaa) == [raw_zone]


def test_the_dags_role_may_select_what_the_maps_dag_queries() -> None:
    from lambdas.bootstrap.apply import DAGS_READ_TABLES

    maps = (REPO / "mwaa_dags" / "extdata" / "maps.py").read_text()
    queried = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", maps))
    assert queried and queried <= set(DAGS_READ_TABLES)
