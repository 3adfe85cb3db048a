"""What `make tf-apply-local` checks in the emulator after the apply, the re-plan and the destroy
(tf_apply_local.py): the applied layer, which re-plan changes are emulator read-back gaps, what is left."""

from __future__ import annotations

import json
from typing import Any

#: Attributes moto does not read back (so the provider sees them as drift on the re-plan): resource type ->
#: attributes. A re-plan change is an emulator gap only if every attribute it changes is listed here or is
#: unknown until apply because a listed change upstream defers a data source (IAM documents); any other
#: change fails. Each is listed in infra/README.md.
READBACK_GAPS = {
    "aws_vpc_security_group_ingress_rule": {"description"},  # moto drops rule descriptions of group pairs
    "aws_vpc_security_group_egress_rule": {"description"},
    "aws_kms_key": {"rotation_period_in_days"},  # GetKeyRotationStatus without RotationPeriodInDays
    "aws_glue_registry": {"tags", "tags_all"},  # registry tags not returned
    "aws_emrserverless_application": {"architecture"},  # not stored
    "aws_ecs_service": {"availability_zone_rebalancing"},  # not stored
    "aws_lambda_function": {"logging_config"},  # LoggingConfig not stored
    "aws_rds_cluster": {"scaling_configuration"},  # a Serverless v1 scaling config returned for every cluster
    "aws_rds_cluster_instance": {"performance_insights_enabled", "performance_insights_kms_key_id",
                                 "performance_insights_retention_period"},  # Performance Insights not stored
}

def leftovers(client: Any, name: str) -> list[str]:
    """Resources of the layer still in the emulator after destroy (by name prefix)."""
    left: list[str] = []
    s3 = client("s3")
    left += [f"s3 bucket {b['Name']}" for b in s3.list_buckets().get("Buckets", []) if name in b["Name"]]
    iam = client("iam")
    left += [f"iam role {r['RoleName']}" for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(name)]
    lam = client("lambda")
    left += [f"lambda {f['FunctionName']}" for f in lam.list_functions()["Functions"]]
    logs = client("logs")
    left += [f"log group {g['logGroupName']}" for g in logs.describe_log_groups()["logGroups"]]
    sm = client("secretsmanager")
    left += [f"secret {s['Name']}" for s in sm.list_secrets()["SecretList"]]  # scheduled deletions are not listed
    ec2 = client("ec2")
    left += [f"vpc {v['VpcId']}" for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    rds = client("rds")
    left += [f"rds cluster {c['DBClusterIdentifier']}" for c in rds.describe_db_clusters()["DBClusters"]]
    left += [f"kafka cluster {c['ClusterName']}" for c in client("kafka").list_clusters_v2()["ClusterInfoList"]]
    left += [f"ecr {r['repositoryName']}" for r in client("ecr").describe_repositories()["repositories"]]
    ecs = client("ecs")
    arns = ecs.list_clusters()["clusterArns"]
    described = ecs.describe_clusters(clusters=arns)["clusters"] if arns else []
    left += [f"ecs cluster {c['clusterName']}" for c in described
             if c["status"] != "INACTIVE"]  # a deleted cluster stays listed as INACTIVE for a while, as in AWS
    emr = client("emr-serverless")
    left += [f"emr application {a['name']}" for a in emr.list_applications()["applications"]
             if a["state"] != "TERMINATED"]
    left += [f"kms key {k['KeyId']}" for k in client("kms").list_keys()["Keys"]
             if client("kms").describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"]
    return left


def classify_replan(plan: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(real changes, emulator read-back gaps) of a re-plan's resource changes."""
    real: list[str] = []
    gaps: list[str] = []
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if rc.get("mode") != "managed" or actions == ["no-op"] or actions == ["read"]:
            continue
        if actions != ["update"]:
            real.append(f"{rc['address']}: {'/'.join(actions)}")
            continue
        before, after = rc["change"].get("before") or {}, rc["change"].get("after") or {}
        unknown = rc["change"].get("after_unknown") or {}
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k) or unknown.get(k) is True}
        allowed = READBACK_GAPS.get(rc["type"], set())
        hidden = {k for k in changed if k not in allowed and unknown.get(k) is not True}
        (real if hidden else gaps).append(f"{rc['address']}: {', '.join(sorted(hidden or changed))}")
    return real, gaps


def resources(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource of a `terraform show -json` state, child modules included."""
    out: list[dict[str, Any]] = []

    def walk(module: dict[str, Any]) -> None:
        out.extend(module.get("resources", []))
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", {}).get("root_module", {}))
    return out


def check_applied(client: Any, state: dict[str, Any]) -> list[str]:
    """What the applied layer must look like in the emulator (each a defect a first deploy would hit)."""
    errors: list[str] = []
    outputs = {k: v["value"] for k, v in state.get("values", {}).get("outputs", {}).items()}
    buckets, env = outputs["buckets"], outputs["emr_job_environment"]
    s3 = client("s3")
    # S3 server access logging on every data bucket (refused while the log bucket's policy was missing)
    for purpose, bucket in buckets.items():
        if "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket):
            errors.append(f"bucket {purpose}: access logging not enabled")
    # checkpoints: no current-object expiry (RocksDB state references old files)
    for rule in s3.get_bucket_lifecycle_configuration(Bucket=buckets["checkpoints"])["Rules"]:
        expiration = rule.get("Expiration", {})
        if "Days" in expiration or "Date" in expiration:
            errors.append(f"checkpoints lifecycle rule {rule.get('ID')} expires current objects: {expiration}")
    # the lake zone the jobs write is the one a lifecycle rule and the job role's writes cover, and only it
    lake_root = env["EB_SPARK_LAKE_ROOT"]
    prefix = lake_root.removeprefix(f"s3://{buckets['lake']}/").rstrip("/") + "/"
    rules = s3.get_bucket_lifecycle_configuration(Bucket=buckets["lake"])["Rules"]
    if not any(r.get("Filter", {}).get("Prefix") == prefix for r in rules):
        errors.append(f"lake: no lifecycle rule for the jobs' zone {prefix} (EB_SPARK_LAKE_ROOT={lake_root})")
    role = env["EB_EMR_EXECUTION_ROLE_ARN"].rsplit("/", 1)[1]
    doc = client("iam").get_role_policy(RoleName=role, PolicyName="spark-jobs")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    lake_arn = f"arn:aws:s3:::{buckets['lake']}"
    for st in doc["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        targets = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if any(a in ("s3:PutObject", "s3:DeleteObject") for a in actions):
            wrong = [t for t in targets if t.startswith(lake_arn + "/") and t != f"{lake_arn}/{prefix}*"]
            if wrong:
                errors.append(f"EMR job role writes the lake outside {prefix}: {wrong}")
    # no reserved concurrency: a new account (quota 10) cannot reserve any
    lam = client("lambda")
    for fn in lam.list_functions()["Functions"]:
        reserved = lam.get_function_concurrency(FunctionName=fn["FunctionName"]).get("ReservedConcurrentExecutions")
        if reserved is not None:
            errors.append(f"lambda {fn['FunctionName']} reserves {reserved} concurrent executions")
    # every API route but the health probe goes through the API-key authorizer
    api = client("apigatewayv2")
    for item in api.get_apis()["Items"]:
        for route in api.get_routes(ApiId=item["ApiId"])["Items"]:
            if route["RouteKey"] != "GET /health" and route.get("AuthorizationType") != "CUSTOM":
                errors.append(f"API route {route['RouteKey']} has authorization {route.get('AuthorizationType')}")
    # the bootstrap re-runs when the Aurora cluster is replaced: its trigger is the cluster's resource id
    cluster = client("rds").describe_db_clusters()["DBClusters"][0]
    invocation = next(r for r in resources(state) if r["type"] == "aws_lambda_invocation")
    if invocation["values"]["triggers"].get("database") != cluster["DbClusterResourceId"]:
        errors.append("bootstrap trigger `database` is not the Aurora cluster's resource id")
    return errors


def final_snapshots(client: Any) -> list[str]:
    rds = client("rds")
    snapshots = rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    return [s["DBClusterSnapshotIdentifier"] for s in snapshots]
