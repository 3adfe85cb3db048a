"""Apply the catalog everywhere it lives: Kafka topics, registry schemas, and (locally) buckets and
the DB secret that Terraform owns in AWS. Idempotent; used by `make local-up` and the bootstrap Lambda.

    python -m eventbus.bootstrap            # apply and print a summary
    python -m eventbus.bootstrap --check    # exit 1 if anything would change
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from eventbus import aws
from eventbus.catalog import load_catalog
from eventbus.kafka.admin import ApplyReport, apply_topics
from eventbus.logging import configure_logging, get_logger
from eventbus.postgres import ensure_publication
from eventbus.registry import SchemaRegistry
from eventbus.settings import REPO_ROOT, Settings, get_settings

log = get_logger("eventbus.bootstrap")


@dataclass
class BootstrapReport:
    topics: ApplyReport
    schemas: dict[str, str] = field(default_factory=dict)
    buckets_created: list[str] = field(default_factory=list)
    secret_created: bool = False
    database: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def register_schemas(settings: Settings) -> dict[str, str]:
    """Register every catalog schema; returns topic -> schema version id."""
    registry = SchemaRegistry(settings)
    registry.ensure_registry()
    return {spec.name: str(registry.register(spec.schema_name, spec.schema_text)) for spec in load_catalog(settings)}


def ensure_local_resources(settings: Settings) -> tuple[list[str], bool]:
    """Buckets and the DB secret in the emulator (Terraform creates them in AWS)."""
    s3 = aws.client("s3", settings)
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    created = []
    for bucket in (settings.lake_bucket, settings.checkpoint_bucket, settings.artifacts_bucket):
        if bucket not in have:
            s3.create_bucket(Bucket=bucket)
            created.append(bucket)
    sm = aws.client("secretsmanager", settings)
    secret = {
        "username": settings.pg_user,
        "password": settings.pg_password.get_secret_value(),
        "host": settings.pg_host,
        "port": settings.pg_port,
        "dbname": settings.pg_database,
    }
    try:
        sm.describe_secret(SecretId=settings.pg_secret_name)
        secret_created = False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        sm.create_secret(Name=settings.pg_secret_name, SecretString=json.dumps(secret))
        secret_created = True
    return created, secret_created


OLTP_SQL = REPO_ROOT / "schemas" / "sql" / "oltp.sql"
#: What the OLTP workload (the simulators) may do in AWS: DML on the OLTP tables, nothing else.
APP_ROLE_GRANTS = "SELECT, INSERT, UPDATE, DELETE"
#: What the DAGs on MWAA may read (the maps DAG's bookings per destination, mwaa_dags/extdata/maps.py):
#: SELECT on these tables, nothing else.
DAGS_READ_TABLES = ("bookings",)


def password_verifier(cur: Any, username: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` (``SCRAM-SHA-256$4096:<salt>$<stored key>:<server key>``),
    computed client-side by libpq (``PQencryptPasswordConn``, psycopg2's ``encrypt_password``).

    ``CREATE/ALTER ROLE ... PASSWORD`` is DDL: with ``log_statement = ddl`` (Aurora's parameter group), any
    statement slower than ``log_min_duration_statement`` or any failing one, the server logs its text, and
    Aurora exports that log to CloudWatch. Given a verifier, PostgreSQL stores it as is ("If the presented
    password string is already in MD5-encrypted or SCRAM-encrypted format, then it is stored as-is",
    CREATE ROLE docs; PostgreSQL 10+, Aurora PostgreSQL 10+ support SCRAM, 14+ default to it), so the
    log can only ever show the verifier, from which the password cannot be recovered or replayed.
    ``SET LOCAL log_statement = 'none'`` would not do: it needs a superuser (Aurora's master user is
    rds_superuser, not one) and does not cover the slow-statement and error logs.
    """
    from psycopg2.extensions import encrypt_password

    return str(encrypt_password(password, username, cur, "scram-sha-256"))


def _login_role(cur: Any, settings: Settings, secret_arn: str) -> Any:
    """Create (or re-password) the login role a Terraform-owned secret describes; returns its identifier.
    The password goes to the server only as a SCRAM verifier (``password_verifier``)."""
    from psycopg2 import sql

    secret = aws.secret_json(settings, secret_arn)
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (secret["username"],))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    role = sql.Identifier(secret["username"])
    verifier = password_verifier(cur, secret["username"], secret["password"])
    cur.execute(sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD {}").format(role, sql.Literal(verifier)))
    return role


def apply_database(
    settings: Settings,
    publication: str | None = None,
    app_secret_arn: str | None = None,
    dags_secret_arn: str | None = None,
) -> list[str]:
    """AWS: the OLTP schema, the CDC publication (the catalog's, named ``publication`` if given), the
    replication role, given ``app_secret_arn`` the OLTP workload's DML-only role and, given
    ``dags_secret_arn``, the DAGs' read-only role on Aurora (as the master user, from ``EB_PG_SECRET_ARN``).
    Locally the stack does the same as the cluster's superuser."""
    import psycopg2
    from psycopg2 import sql

    done = []
    pub = next(spec.publication for spec in load_catalog(settings) if spec.publication is not None)
    name = publication or pub.name
    with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
        cur.execute(OLTP_SQL.read_text())
        done.append("oltp schema")
        if ensure_publication(cur, name, pub.tables):
            done.append(f"publication {name}")
        if settings.pg_replication_secret_arn:
            role = _login_role(cur, settings, settings.pg_replication_secret_arn)
            cur.execute(sql.SQL("GRANT rds_replication TO {}").format(role))  # Aurora's replication role
            cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
            done.append("replication role")
        if app_secret_arn:
            app = _login_role(cur, settings, app_secret_arn)
            cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(app))
            cur.execute(sql.SQL("GRANT " + APP_ROLE_GRANTS + " ON ALL TABLES IN SCHEMA public TO {}").format(app))
            done.append("oltp app role")
        if dags_secret_arn:
            dags = _login_role(cur, settings, dags_secret_arn)
            cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(dags))
            tables = sql.SQL(", ").join(sql.Identifier(t) for t in DAGS_READ_TABLES)
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, dags))
            done.append("dags reader role")
    return done


def apply_all(
    settings: Settings | None = None,
    *,
    topics: bool = True,
    app_secret_arn: str | None = None,
    dags_secret_arn: str | None = None,
) -> BootstrapReport:
    """Topics, schemas; locally buckets + secret; in AWS the database objects. Idempotent."""
    settings = settings or get_settings()
    report = BootstrapReport(topics=apply_topics(settings) if topics else ApplyReport())
    report.schemas = register_schemas(settings)
    if settings.profile == "local":
        report.buckets_created, report.secret_created = ensure_local_resources(settings)
    elif settings.pg_secret_arn:
        report.database = apply_database(settings, app_secret_arn=app_secret_arn, dags_secret_arn=dags_secret_arn)
    log.info(
        "bootstrap applied",
        extra={
            "topics_created": report.topics.created,
            "topics_reconfigured": list(report.topics.reconfigured),
            "schemas": len(report.schemas),
            "buckets_created": report.buckets_created,
        },
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventbus.bootstrap",
        description="Apply the topic catalog (topics, configs, schemas; locally also buckets and the DB secret).",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-topics", action="store_true", help="skip Kafka (registry/buckets only)")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    report = apply_all(settings, topics=not args.no_topics)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        t = report.topics
        print(
            f"topics: {len(t.created)} created, {len(t.reconfigured)} reconfigured, "
            f"{len(t.repartitioned)} repartitioned, {len(t.unchanged)} unchanged; "
            f"schemas: {len(report.schemas)} registered; buckets created: {len(report.buckets_created)}"
        )
        for warning in t.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
