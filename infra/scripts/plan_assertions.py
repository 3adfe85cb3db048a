"""Security and wiring invariants, asserted on real plans and on the IAM policy source.

checkov reads the HCL; these read what Terraform will actually create (the plan JSON) and fail on:
  - a bucket without SSE-KMS (the S3 access-log bucket too: server access logging writes SSE-KMS with
    the layer key, whose policy lets logging.s3.amazonaws.com generate data keys), public access not
    blocked, or versioning off;
  - a log group without a KMS key or retention;
  - a Lambda outside the VPC, without active tracing or without an encrypted environment;
  - an ingress rule open to 0.0.0.0/0;
  - Aurora without encryption, IAM auth, a managed master password or rds.logical_replication = 1;
  - MSK accepting unauthenticated or plaintext clients;
  - a Glue schema that is not AVRO/BACKWARD;
  - an EB_* variable handed to a Lambda that no settings model (shared or per component) defines;
  - start order: an ECS service or schedule that does not depend on the bootstrap invocation;
  - secrets: a secret version with a plain `secret_string` (in state) or a constant
    `secret_string_wo_version` (a changed value would never be written);
  - a service trust policy without aws:SourceAccount (services that document it), a scheduled
    function with Lambda's async retries on, an MWAA environment or Aurora cluster whose service-created
    log groups are not created first (retention, KMS);
  - Kafka grants that differ from the catalog's writers/readers (the `topic_access` output);
  - an MWAA environment whose client security group does not reach Aurora (the maps DAG queries it).
and, in the policy source (iam_checks.py: `data "aws_iam_policy_document"` + attached managed policies), an
Allow statement with a `*` / `service:*` action, a `*` resource for an action outside STAR_RESOURCE_ACTIONS, or
a workload reading a DB login secret other than its own.

    python infra/scripts/plan_assertions.py plan.json [plan2.json ...]   # exit 1 on any violation
    python infra/scripts/plan_assertions.py --iam                        # policy source only
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent.parent
SETTINGS = INFRA.parent / "eventbus" / "settings.py"

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from iam_checks import (  # noqa: E402  (sibling module; re-exported: tests and tf_check use these names)
    MANAGED_POLICIES,
    NO_RESOURCE_LEVEL,
    SOURCE_ACCOUNT_SERVICES,
    STAR_RESOURCE_ACTIONS,
    check_db_secret_readers,
    check_iam_source,
    check_master_secret_readers,
    check_trust_source,
    iam_statements,
    star_resource_actions,
)

__all__ = [
    "MANAGED_POLICIES", "NO_RESOURCE_LEVEL", "SOURCE_ACCOUNT_SERVICES", "STAR_RESOURCE_ACTIONS",
    "check_db_secret_readers", "check_iam_source",
    "check_master_secret_readers", "check_trust_source", "iam_statements", "star_resource_actions",
]
# Settings fields Terraform also passes that the model does not (yet) define: read by specific code.
EXTRA_ENV: set[str] = set()
MWAA_LOG_TYPES = ("DAGProcessing", "Scheduler", "Task", "WebServer", "Worker")


def _resources(plan: dict) -> list[dict[str, Any]]:
    """Managed resources to be created, each with its planned values and unknown-after flags."""
    out = []
    for rc in plan.get("resource_changes", []):
        if rc.get("mode") == "managed" and "create" in rc["change"]["actions"]:
            out.append(
                {
                    "address": rc["address"],
                    "type": rc["type"],
                    "after": rc["change"].get("after") or {},
                    "unknown": rc["change"].get("after_unknown") or {},
                }
            )
    return out


def _set(res: dict, key: str) -> bool:
    """A planned attribute that is set (known non-null, or computed from another resource)."""
    return res["after"].get(key) not in (None, "", []) or res["unknown"].get(key) is True


_MODEL = re.compile(r"^class \w+\((?:[\w.]*\.)?(?:BaseSettings|ComponentSettings)\):", re.M)
_MODEL_BASES = {"BaseSettings", "ComponentSettings"}


def _model_env_names(cls: ast.ClassDef) -> set[str]:
    """The EB_* variables one settings class reads: prefix + field name, or, for a field with a
    ``validation_alias`` (a string or ``AliasChoices(...)``), each alias (pydantic-settings then reads
    only those, e.g. emr_jobs/config.py's ``EB_EMR_APPLICATION_ID``)."""
    prefix = "EB_" if cls.name == "Settings" else ""
    for node in cls.body:  # model_config = SettingsConfigDict(env_prefix="EB_...")
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for kw in node.value.keywords:
                if kw.arg == "env_prefix" and isinstance(kw.value, ast.Constant):
                    prefix = str(kw.value.value)
    names: set[str] = set()
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        aliases = [
            c.value
            for kw in (node.value.keywords if isinstance(node.value, ast.Call) else [])
            if kw.arg == "validation_alias"
            for c in ast.walk(kw.value)
            if isinstance(c, ast.Constant) and isinstance(c.value, str)
        ]
        names |= {a.upper() for a in aliases} if aliases else {(prefix + node.target.id).upper()}
    return {n for n in names if n.startswith("EB_")}


def settings_env_names(path: Path = SETTINGS) -> set[str]:
    """EB_* names of the shared Settings model and of every component's settings model, aliases included
    (parsed, not imported: this runs without the project's dependencies)."""
    repo = path.resolve().parent.parent
    names: set[str] = set()
    for py in sorted(repo.rglob("*.py")):
        rel = py.relative_to(repo).parts
        if any(part.startswith(".") or part in {"tests", "infra", "node_modules"} for part in rel):
            continue
        src = py.read_text(errors="replace")
        if not _MODEL.search(src):
            continue
        for cls in ast.walk(ast.parse(src)):
            if isinstance(cls, ast.ClassDef) and any(
                (b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "") in _MODEL_BASES
                for b in cls.bases
            ):
                names |= _model_env_names(cls)
    return names


def check_plan(plan: dict, env_names: set[str] | None = None) -> list[str]:
    errors: list[str] = []
    res = _resources(plan)
    by_type: dict[str, list[dict]] = {}
    for r in res:
        by_type.setdefault(r["type"], []).append(r)

    for r in by_type.get("aws_s3_bucket_server_side_encryption_configuration", []):
        algo = r["after"]["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
        if algo != "aws:kms":
            errors.append(f"{r['address']}: bucket encrypted with {algo}, expected aws:kms")
    buckets = len(by_type.get("aws_s3_bucket", []))
    for t in (
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_versioning",
    ):
        if len(by_type.get(t, [])) != buckets:
            errors.append(f"{buckets} buckets but {len(by_type.get(t, []))} {t}")
    for r in by_type.get("aws_s3_bucket_public_access_block", []):
        if not all(
            r["after"].get(k)
            for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        ):
            errors.append(f"{r['address']}: public access not fully blocked")

    for r in by_type.get("aws_cloudwatch_log_group", []):
        if not _set(r, "kms_key_id"):
            errors.append(f"{r['address']}: log group without a KMS key")
        if not r["after"].get("retention_in_days"):
            errors.append(f"{r['address']}: log group kept forever (no retention)")

    allowed_env = (env_names or set()) | EXTRA_ENV
    for r in by_type.get("aws_lambda_function", []):
        a, u = r["after"], r["unknown"]
        if not (a.get("vpc_config") or u.get("vpc_config")):
            errors.append(f"{r['address']}: Lambda outside the VPC")
        if (a.get("tracing_config") or [{}])[0].get("mode") != "Active":
            errors.append(f"{r['address']}: X-Ray tracing not active")
        if not _set(r, "kms_key_arn"):
            errors.append(f"{r['address']}: environment not encrypted with the layer key")
        # Offline, most values (broker, endpoints) are unknown and so is the whole map; names are
        # checked in the source instead (check_env_source).
        env = (a.get("environment") or [{}])[0].get("variables")
        if env is not None and env.get("EB_PROFILE") != "aws":
            errors.append(f"{r['address']}: EB_PROFILE is {env.get('EB_PROFILE')!r}, expected 'aws'")
        if env is not None and env_names is not None:
            for k in sorted(set(env) - allowed_env):
                errors.append(f"{r['address']}: {k} is read by no settings model (eventbus.settings or a component's)")

    for r in by_type.get("aws_vpc_security_group_ingress_rule", []):
        if r["after"].get("cidr_ipv4") == "0.0.0.0/0" or r["after"].get("cidr_ipv6") == "::/0":
            errors.append(f"{r['address']}: ingress open to the internet")

    for r in by_type.get("aws_rds_cluster", []):
        a = r["after"]
        for key in ("storage_encrypted", "iam_database_authentication_enabled", "manage_master_user_password"):
            if a.get(key) is not True:
                errors.append(f"{r['address']}: {key} is not true")
    for r in by_type.get("aws_rds_cluster_parameter_group", []):
        params = {p["name"]: p["value"] for p in r["after"].get("parameter", [])}
        if params.get("rds.logical_replication") != "1":
            errors.append(f"{r['address']}: rds.logical_replication is not 1 (CDC needs it)")

    for r in by_type.get("aws_msk_serverless_cluster", []):
        if not r["after"]["client_authentication"][0]["sasl"][0]["iam"][0]["enabled"]:
            errors.append(f"{r['address']}: IAM auth disabled")
    for r in by_type.get("aws_msk_cluster", []):
        a = r["after"]
        if a["client_authentication"][0].get("unauthenticated") or not a["client_authentication"][0]["sasl"][0]["iam"]:
            errors.append(f"{r['address']}: unauthenticated access or no IAM auth")
        if a["encryption_info"][0]["encryption_in_transit"][0]["client_broker"] != "TLS":
            errors.append(f"{r['address']}: client-broker traffic not TLS-only")

    for r in by_type.get("aws_glue_schema", []):
        if (r["after"].get("data_format"), r["after"].get("compatibility")) != ("AVRO", "BACKWARD"):
            errors.append(f"{r['address']}: expected AVRO with BACKWARD compatibility")

    for r in by_type.get("aws_secretsmanager_secret_version", []):
        if r["after"].get("secret_string") not in (None, "") or r["unknown"].get("secret_string") is True:
            errors.append(f"{r['address']}: secret_string is stored in the state; use secret_string_wo")
    for r in by_type.get("aws_iam_role", []):
        errors += _trust_errors(r)
    for r in by_type.get("aws_iam_role_policy_attachment", []):
        arn = r["after"].get("policy_arn") or ""
        if ":iam::aws:policy/" in arn and arn.split(":iam::aws:policy/", 1)[1] not in MANAGED_POLICIES:
            errors.append(f"{r['address']}: attaches AWS-managed {arn} (unchecked; use scoped inline statements)")

    for r in by_type.get("aws_scheduler_schedule", []):
        if not _scheduled_function_retry_off(plan, r["address"]):
            errors.append(f"{r['address']}: its Lambda target keeps Lambda's async retries (event invoke config)")

    log_groups = {r["after"].get("name") for r in by_type.get("aws_cloudwatch_log_group", [])}
    for r in by_type.get("aws_mwaa_environment", []):
        name = r["after"].get("name")
        missing = [t for t in MWAA_LOG_TYPES if f"airflow-{name}-{t}" not in log_groups]
        if missing:
            errors.append(f"{r['address']}: MWAA would create log groups without retention: {missing}")
    for r in by_type.get("aws_rds_cluster", []):
        ident = r["after"].get("cluster_identifier")
        for kind in r["after"].get("enabled_cloudwatch_logs_exports") or []:
            if f"/aws/rds/cluster/{ident}/{kind}" not in log_groups:
                errors.append(f"{r['address']}: RDS would create /aws/rds/cluster/{ident}/{kind} without retention")
    for r in by_type.get("aws_rds_cluster_instance", []):
        if r["after"].get("auto_minor_version_upgrade") and "." in str(r["after"].get("engine_version") or ""):
            errors.append(f"{r['address']}: pinned minor engine_version + auto minor upgrades (downgrade on apply)")
    for r in by_type.get("aws_rds_cluster", []):
        if "." in str(r["after"].get("engine_version") or ""):
            errors.append(f"{r['address']}: engine_version pins a minor version; AWS upgrades minors itself")

    for r in by_type.get("aws_mwaa_environment", []):
        errors += _postgres_reach_errors(r["address"], "mwaa", by_type)

    errors += check_configuration(plan)
    return errors


def _postgres_reach_errors(address: str, client: str, by_type: dict[str, list[dict]]) -> list[str]:
    """The network module's `client` security group reaches Aurora: its egress and Aurora's ingress."""
    rules = {
        "egress to Aurora (client_to_postgres)": ("aws_vpc_security_group_egress_rule", "client_to_postgres"),
        "Aurora ingress from it (aurora_from_client)": ("aws_vpc_security_group_ingress_rule", "aurora_from_client"),
    }
    return [
        f"{address}: its security group `{client}` has no {what}; set postgres = true for it (network module)"
        for what, (type_, name) in rules.items()
        if not any(r["address"].endswith(f'.{name}["{client}"]') for r in by_type.get(type_, []))
    ]


def _trust_errors(role: dict) -> list[str]:
    policy = role["after"].get("assume_role_policy")
    if not isinstance(policy, str) or not policy:
        return []  # unknown offline: the source check (check_iam_source) covers it
    out = []
    for stmt in json.loads(policy).get("Statement", []):
        services = (stmt.get("Principal") or {}).get("Service") or []
        services = [services] if isinstance(services, str) else services
        conds = {k for block in (stmt.get("Condition") or {}).values() for k in block}
        for svc in sorted(set(services) & SOURCE_ACCOUNT_SERVICES):
            if "aws:SourceAccount" not in conds:
                out.append(f"{role['address']}: trust of {svc} without aws:SourceAccount")
    return out


def _module_of(address: str) -> str:
    return address.rsplit(".", 2)[0] if address.count(".") >= 2 else ""


def _scheduled_function_retry_off(plan: dict, schedule: str) -> bool:
    """The schedule's module turns Lambda's asynchronous retries off for its target (event invoke config)."""
    mod = _module_of(schedule)
    return any(
        c["type"] == "aws_lambda_function_event_invoke_config"
        and _module_of(c["address"]) == mod
        and (c["change"].get("after") or {}).get("maximum_retry_attempts") == 0
        for c in plan.get("resource_changes", [])
    )


def _config_modules(module: dict, prefix: str = "") -> list[tuple[str, dict]]:
    out = [(prefix, module)]
    for name, call in (module.get("module_calls") or {}).items():
        out += _config_modules(call.get("module") or {}, f"{prefix}module.{name}.")
    return out


def check_configuration(plan: dict) -> list[str]:
    """Checks on the configuration section of the plan (what Terraform was told, not its values)."""
    errors: list[str] = []
    for prefix, module in _config_modules((plan.get("configuration") or {}).get("root_module") or {}):
        resources = module.get("resources") or []
        has_bootstrap = any(r["type"] == "aws_lambda_invocation" for r in resources)
        for r in resources:
            where = f"{prefix}{r['type']}.{r['name']}"
            starts = has_bootstrap and r["type"] in ("aws_ecs_service", "aws_scheduler_schedule")
            if starts and not any(d.startswith("aws_lambda_invocation.") for d in r.get("depends_on") or []):
                errors.append(f"{where}: does not depend on the bootstrap invocation (starts before topics/roles)")
            if r["type"] == "aws_secretsmanager_secret_version":
                expr = (r.get("expressions") or {}).get("secret_string_wo_version") or {}
                if "constant_value" in expr:
                    errors.append(f"{where}: secret_string_wo_version is a constant; a changed value is never written")
        # An Aurora cluster is "available" before its instances: an output handing its endpoint to clients
        # (the bootstrap invocation connects at apply time) must wait for them.
        instances = [f"aws_rds_cluster_instance.{r['name']}" for r in resources
                     if r["type"] == "aws_rds_cluster_instance"]
        for name, out in (module.get("outputs") or {}).items():
            refs = (out.get("expression") or {}).get("references") or []
            if instances and any(ref.startswith("aws_rds_cluster.") and ref.endswith(".endpoint") for ref in refs) \
                    and not set(instances) & set(out.get("depends_on") or []):
                errors.append(f"{prefix}output.{name}: the cluster endpoint without depends_on its instances "
                              f"({', '.join(instances)}); clients connect before anything answers there")
    return errors


def secret_versions(plan: dict) -> dict[str, Any]:
    """Planned `secret_string_wo_version` of each secret version (None when only known at apply)."""
    return {
        c["address"]: (c["change"].get("after") or {}).get("secret_string_wo_version")
        for c in plan.get("resource_changes", [])
        if c["type"] == "aws_secretsmanager_secret_version"
    }


def check_access(plan: dict, catalog: dict) -> list[str]:
    """The Kafka grants (root output `topic_access`) are exactly the catalog's writers and readers."""
    out = ((plan.get("planned_values") or {}).get("outputs") or {}).get("topic_access")
    if out is None:
        return []  # not the root configuration
    errors = []
    for workload, access in (out.get("value") or {}).items():
        comp = access["component"]
        for key, side in (("write", "writers"), ("read", "readers")):
            want = sorted(t for t, spec in catalog["topics"].items() if comp in (spec.get(side) or []))
            if sorted(access[key]) != want:
                errors.append(f"topic_access[{workload}].{key} = {access[key]}, catalog {side} of {comp}: {want}")
    return errors


def check_env_source(root: Path = INFRA, env_names: set[str] | None = None) -> tuple[int, list[str]]:
    """(EB_* names passed, violations): every EB_* name Terraform sets must be read by a settings model."""
    env_names = env_names if env_names is not None else settings_env_names()
    names: set[str] = set()
    for tf in sorted(root.rglob("*.tf")):
        if ".terraform" in tf.parts or ".venv-checkov" in tf.parts:
            continue
        names |= set(re.findall(r"^\s*(EB_[A-Z0-9_]+)\s*=", tf.read_text(), re.M))
    bad = sorted(names - env_names - EXTRA_ENV)
    return len(names), [f"{n} is set by Terraform but read by no settings model (eventbus.settings or a component's)"
                        for n in bad]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    errors: list[str] = []
    checked, iam_errors = check_iam_source()
    errors += iam_errors
    print(f"IAM policy statements checked: {checked}")
    if SETTINGS.exists():
        n_env, env_errors = check_env_source()
        errors += env_errors
        print(f"EB_* names checked against the settings models: {n_env}")
    env = settings_env_names() if SETTINGS.exists() else None
    for path in [a for a in argv if a != "--iam"]:
        found = check_plan(json.loads(Path(path).read_text()), env)
        print(f"{path}: {len(found)} violation(s)")
        errors += found
    for e in errors:
        print(f"  VIOLATION {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
