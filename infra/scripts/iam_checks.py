"""IAM policy source checks (part of `make tf-check`, re-exported by plan_assertions).

Over every `data "aws_iam_policy_document"` and every attached AWS-managed policy in infra/: no Allow
statement with a `*` / `service:*` action, `*` resources only for STAR_RESOURCE_ACTIONS (each with why;
infra/README.md "Security" lists the same), aws:SourceAccount in the trust of the services that document it,
the Aurora master secret only for the bootstrap, and each workload's DB login secret only for that workload.

    python infra/scripts/plan_assertions.py --iam
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent.parent

# The only actions allowed on a `*` resource, each with why (infra/README.md "Security" lists the same;
# tests/unit/test_infra_assertions.py keeps the two in step).
STAR_RESOURCE_ACTIONS = {
    "ecr:GetAuthorizationToken": "no resource-level permissions (ECR)",
    "s3:GetAccountPublicAccessBlock": "account-level action, no resource ARN (MWAA's documented minimum)",
    "cloudwatch:PutMetricData": "no resource-level permissions; limited by the cloudwatch:namespace condition",
    "ec2:DescribeNetworkInterfaces": "Lambda VPC ENIs: 'only works if it's allowed on all resources' (Lambda guide)",
    "xray:PutTraceSegments": "no resource-level permissions (X-Ray); active tracing",
    "xray:PutTelemetryRecords": "no resource-level permissions (X-Ray); active tracing",
    "glue:GetSchemaVersion": "called by SchemaVersionId (eventbus/registry.py): Glue authorizes that form "
    "against `*` only (awslabs/aws-glue-schema-registry#68)",
}
NO_RESOURCE_LEVEL = set(STAR_RESOURCE_ACTIONS)
# AWS-managed policies the configuration may attach: their documented statements (AWS managed policy
# reference), checked by the same rules as the inline ones. Any other managed policy is a violation.
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AmazonRDSEnhancedMonitoringRole": [
        {
            "actions": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
            "resources": ["arn:aws:logs:*:*:log-group:RDS*"],
        },
        {
            "actions": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"],
            "resources": ["arn:aws:logs:*:*:log-group:RDS*:log-stream:*"],
        },
    ],
}
# Service principals whose trust policies must carry aws:SourceAccount (each documents the key for its
# role type). Lambda and the ECS task *execution* role are left out: their documentation gives no
# confused-deputy condition for assuming the role, and an unsatisfied condition would break the role.
SOURCE_ACCOUNT_SERVICES = {
    "vpc-flow-logs.amazonaws.com",
    "scheduler.amazonaws.com",
    "emr-serverless.amazonaws.com",
    "airflow.amazonaws.com",
    "monitoring.rds.amazonaws.com",
}

def _blocks(text: str, opener: str) -> list[str]:
    """Bodies of `opener {` blocks (brace-balanced)."""
    out, pos = [], 0
    while (i := text.find(opener, pos)) != -1:
        start = text.index("{", i) + 1
        depth, j = 1, start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        out.append(text[start : j - 1])
        pos = j
    return out


def _list(body: str, key: str) -> list[str] | None:
    m = re.search(rf"^\s*{key}\s*=\s*\[(.*?)\]", body, re.S | re.M)
    if not m:
        return None
    return re.findall(r'"([^"]+)"', m.group(1))


def _statement_errors(where: str, actions: list[str], resources: list[str]) -> list[str]:
    errors = []
    for act in actions:
        if act == "*" or act.endswith(":*"):
            errors.append(f"{where}: Allow statement with wildcard action {act!r}")
    if "*" in resources and not set(actions) <= NO_RESOURCE_LEVEL:
        errors.append(f"{where}: `*` resource for {sorted(set(actions) - NO_RESOURCE_LEVEL)}")
    return errors


def iam_statements(root: Path = INFRA, deny: bool = False) -> list[tuple[str, list[str], list[str]]]:
    """(where, actions, resources) of every Allow statement (and Deny ones with ``deny``): policy documents
    and attached managed policies."""
    out = []
    for tf in sorted(root.rglob("*.tf")):
        if ".terraform" in tf.parts or ".venv-checkov" in tf.parts:
            continue
        text = re.sub(r"#[^\n]*", "", tf.read_text())
        where = f"{tf.relative_to(root.parent)}"
        for doc in _blocks(text, 'data "aws_iam_policy_document"'):
            for stmt in _blocks(doc, "statement {") + _blocks(doc, "content {"):
                actions = _list(stmt, "actions") or []
                if actions and (deny or not re.search(r'effect\s*=\s*"Deny"', stmt)):
                    out.append((where, actions, _list(stmt, "resources") or []))
        for arn in re.findall(r'(?:policy_arn|managed_policy_arns)\s*=\s*\[?\s*"([^"]*:iam::aws:policy/[^"]+)"', text):
            name = arn.split(":iam::aws:policy/", 1)[1]
            if name not in MANAGED_POLICIES:
                out.append((f"{where}: AWS-managed {name} (content unknown to the checker)", ["*"], ["*"]))
            for managed in MANAGED_POLICIES.get(name, []):
                out.append((f"{where}: AWS-managed {name}", managed["actions"], managed["resources"]))
    return out


def check_iam_source(root: Path = INFRA) -> tuple[int, list[str]]:
    """(statements checked, violations) over every aws_iam_policy_document and attached managed policy,
    plus who gets the Aurora master secret."""
    stmts = iam_statements(root)
    errors = [e for where, actions, resources in stmts for e in _statement_errors(where, actions, resources)]
    errors += check_master_secret_readers(root)
    errors += check_db_secret_readers(root)
    errors += check_trust_source(root)
    return len(iam_statements(root, deny=True)), errors


def check_trust_source(root: Path = INFRA) -> list[str]:
    """Every trust statement for a SOURCE_ACCOUNT_SERVICES principal names aws:SourceAccount (in the source,
    so trusts whose JSON is only known at apply are covered too)."""
    errors = []
    for tf in sorted(root.rglob("*.tf")):
        if ".terraform" in tf.parts or ".venv-checkov" in tf.parts:
            continue
        text = re.sub(r"#[^\n]*", "", tf.read_text())
        for doc in _blocks(text, 'data "aws_iam_policy_document"'):
            for stmt in _blocks(doc, "statement {"):
                services = set(re.findall(r'"([a-z0-9.-]+\.amazonaws\.com)"', stmt)) & SOURCE_ACCOUNT_SERVICES
                if services and "sts:AssumeRole" in stmt and "aws:SourceAccount" not in stmt:
                    where = tf.relative_to(root.parent)
                    errors.append(f"{where}: trust of {sorted(services)} without aws:SourceAccount")
    return errors


def check_master_secret_readers(root: Path = INFRA) -> list[str]:
    """The Aurora master secret reaches only the bootstrap (its env and policy) and the outputs."""
    errors = []
    for tf in sorted(root.glob("*.tf")):
        text = re.sub(r"#[^\n]*", "", tf.read_text())
        allowed = [m.span() for m in re.finditer(r'data "aws_iam_policy_document" "bootstrap" \{', text)]
        allowed += [m.span() for m in re.finditer(r"bootstrap_environment\s*=", text)]
        spans = []
        for start, _ in allowed:
            brace = text.index("{", start)
            spans.append((start, brace + len(_blocks(text[brace:], "{")[0]) + 2))
        for m in re.finditer(r"module\.aurora\.master_secret_arn", text):
            if tf.name == "outputs.tf" or any(a <= m.start() <= b for a, b in spans):
                continue
            line = text.count("\n", 0, m.start()) + 1
            errors.append(f"{tf.relative_to(root.parent)}:{line}: the Aurora master secret outside the bootstrap")
    return errors


# Where main.tf gives each workload of iam.tf's `workload_secrets` its DB login (EB_PG_SECRET_ARN): the
# argument holding its environment, or its module block. Workloads not listed log in to no database.
WORKLOAD_ENV = {
    "simulators": "simulators_environment",
    "cdc_relay": "cdc_environment",
    "mwaa": 'module "mwaa"',
}
_AURORA_LOGIN = re.compile(r"module\.aurora\.(\w+_secret_arn)")


def check_db_secret_readers(root: Path = INFRA) -> list[str]:
    """Each workload's policy reads exactly the Aurora login secret its environment logs in with
    (EB_PG_SECRET_ARN), and no two workloads share a login (e.g. MWAA reads only the DAGs' read-only
    role's secret, not the OLTP app's)."""
    iam, main = root / "iam.tf", root / "main.tf"
    if not (iam.exists() and main.exists()):
        return []
    iam_text = re.sub(r"#[^\n]*", "", iam.read_text())
    main_text = re.sub(r"#[^\n]*", "", main.read_text())
    block = _blocks(iam_text, "workload_secrets = ")
    if not block:
        return [f"{iam.relative_to(root.parent)}: no `workload_secrets = {{...}}` map to check"]
    reads = {
        m.group(1): sorted(set(_AURORA_LOGIN.findall(m.group(2))) - {"master_secret_arn"})
        for m in re.finditer(r"^\s*(\w+)\s*=\s*\[(.*?)\]", block[0], re.S | re.M)
    }
    errors: list[str] = []
    owner: dict[str, str] = {}
    for workload, secrets in sorted(reads.items()):
        env = _blocks(main_text, WORKLOAD_ENV[workload]) if workload in WORKLOAD_ENV else []
        login = re.search(r"EB_PG_SECRET_ARN\s*=\s*module\.aurora\.(\w+)", env[0]) if env else None
        want = [login.group(1)] if login else []
        if secrets != want:
            errors.append(f"{iam.relative_to(root.parent)}: workload_secrets.{workload} reads Aurora logins {secrets}, "
                          f"but it logs in with {want or 'none'} (EB_PG_SECRET_ARN in {main.name})")
        for secret in want:
            if secret in owner:
                errors.append(f"{main.relative_to(root.parent)}: {workload} and {owner[secret]} share the DB login "
                              f"{secret}; give each its own role (modules/aurora login_roles + the bootstrap)")
            owner[secret] = workload
    return errors


def star_resource_actions(root: Path = INFRA) -> set[str]:
    """Actions the configuration grants on a `*` resource."""
    return {a for _, actions, resources in iam_statements(root) if "*" in resources for a in actions}


