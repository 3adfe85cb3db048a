"""Plan assertions for what a first `terraform apply` / `destroy` in a real account would hit (issue 17),
run by plan_runner.py on every offline plan beside plan_assertions.py. Each names the failure it prevents;
tf_apply_local.py checks the same on the emulator after a real apply.
"""

from __future__ import annotations

import re
from typing import Any

from plan_assertions import _config_modules, _resources

#: MSK version strings: Kafka 4 exists only in KRaft mode on MSK (`4.0.x.kraft`).
MSK_VERSION = re.compile(r"^(3\.[0-9]+\.(x|[0-9]+)(\.kraft)?|4\.[0-9]+\.(x|[0-9]+)\.kraft)$")


def _var(plan: dict[str, Any], name: str) -> Any:
    return (plan.get("variables") or {}).get(name, {}).get("value")


def check_deploy(plan: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in _resources(plan):
        by_type.setdefault(r["type"], []).append(r)

    # A new account's concurrency quota is 10; a reservation must leave 100 unreserved.
    reserved = _var(plan, "lambda_reserved_concurrency")
    if isinstance(reserved, dict) and not any(v is not None for v in reserved.values()):
        for r in by_type.get("aws_lambda_function", []):
            if r["after"].get("reserved_concurrent_executions", -1) != -1:
                errors.append(f"{r['address']}: reserves concurrency by default (a new account's first apply fails)")

    # Every route but the health probe is behind the API-key authorizer.
    for r in by_type.get("aws_apigatewayv2_route", []):
        if r["after"].get("route_key") != "GET /health" and r["after"].get("authorization_type") != "CUSTOM":
            errors.append(f"{r['address']}: route {r['after'].get('route_key')} without the authorizer")

    # Spark checkpoints (RocksDB state) must never expire while current.
    for r in by_type.get("aws_s3_bucket_lifecycle_configuration", []):
        if not r["address"].endswith("aws_s3_bucket_lifecycle_configuration.checkpoints"):
            continue
        for rule in r["after"].get("rule") or []:
            for exp in rule.get("expiration") or []:
                if exp.get("days") or exp.get("date"):
                    errors.append(f"{r['address']}: rule {rule.get('id')} expires current checkpoint objects")

    # Provisioned MSK: a real version string, and no more replicas than brokers.
    brokers = [r["after"].get("number_of_broker_nodes") for r in by_type.get("aws_msk_cluster", [])]
    for r in by_type.get("aws_msk_configuration", []):
        for version in r["after"].get("kafka_versions") or []:
            if not MSK_VERSION.match(version):
                errors.append(f"{r['address']}: {version!r} is not an MSK Kafka version (Kafka 4: `4.0.x.kraft`)")
        text = r["after"].get("server_properties") or ""
        props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        rf = int(props.get("default.replication.factor", "3"))
        if any(b is not None and rf > b for b in brokers):
            errors.append(f"{r['address']}: default.replication.factor {rf} > {min(brokers)} brokers: "
                          "topic creation fails")
        if int(props.get("min.insync.replicas", "1")) > rf:
            errors.append(f"{r['address']}: min.insync.replicas > replication factor")

    # Destroy: the ECR repository goes with its images when the buckets may be emptied.
    force = _var(plan, "force_destroy_buckets")
    for r in by_type.get("aws_ecr_repository", []):
        if force is not None and r["after"].get("force_delete") != force:
            errors.append(f"{r['address']}: force_delete={r['after'].get('force_delete')} "
                          f"while force_destroy_buckets={force}")

    # Every workload that connects to PostgreSQL verifies the server's certificate (RDS CA bundle).
    for r in by_type.get("aws_lambda_function", []):
        env = ((r["after"].get("environment") or [{}])[0] or {}).get("variables") or {}
        if "EB_PG_HOST" in env and env.get("EB_PG_SSLMODE") != "verify-full":
            errors.append(f"{r['address']}: connects to PostgreSQL without EB_PG_SSLMODE=verify-full")

    errors += _check_expressions(plan)
    return errors


def _check_expressions(plan: dict[str, Any]) -> list[str]:
    """Wiring that shows in the configuration, not in planned values (those are unknown until apply)."""
    errors: list[str] = []
    modules = dict(_config_modules(plan["configuration"]["root_module"]))
    root = plan["configuration"]["root_module"]
    compute = root.get("module_calls", {}).get("compute")
    if compute is not None:
        refs = compute.get("expressions", {}).get("bootstrap_triggers", {}).get("references", [])
        if "module.aurora.cluster_resource_id" not in refs:
            errors.append("bootstrap_triggers do not include module.aurora.cluster_resource_id: a replaced Aurora "
                          "cluster would get no tables, publication or roles")
    for name, module in modules.items():
        for res in module.get("resources", []):
            if res.get("type") != "aws_rds_cluster":
                continue
            snap = res.get("expressions", {}).get("final_snapshot_identifier", {})
            if "constant_value" in snap:
                errors.append(f"{name}{res['address']}: constant final_snapshot_identifier: the second destroy fails")
    return errors
