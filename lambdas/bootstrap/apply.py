"""Apply the catalog everywhere it lives: Kafka topics, registry schemas and, in AWS, the database objects
(OLTP schema, CDC publication, login roles). Idempotent. The bootstrap Lambda (``handler.py``) runs it on
every relevant ``terraform apply``; ``python -m lambdas.bootstrap`` runs the same code for `make local-up`,
which also creates locally what Terraform owns in AWS (``local_resources.py``, not in the Lambda's zip).

    report = apply_all(get_settings(), BootstrapSettings())   # BootstrapReport: topics, schemas, database
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from eventbus import aws
from eventbus.catalog import load_catalog
from eventbus.kafka.admin import ApplyReport, apply_topics
from eventbus.logging import get_logger
from eventbus.postgres import STATE_TABLE, STATE_TABLE_DDL, STATE_TABLE_PRIVILEGES, ensure_publication
from eventbus.registry import SchemaRegistry
from eventbus.settings import REPO_ROOT, Settings
from lambdas.bootstrap.settings import BootstrapSettings

log = get_logger("lambdas.bootstrap")


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
    replication_secret_arn: str | None = None,
) -> list[str]:
    """AWS: the OLTP schema, the CDC publication (the catalog's, named ``publication`` if given), the CDC
    relay's state table and, given their secrets, the replication role (its DML on that table), the OLTP
    workload's DML-only role and the DAGs' read-only role on
    Aurora (as the master user, from ``EB_PG_SECRET_ARN``). Locally the stack does the same as the cluster's
    superuser."""
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
        cur.execute("SELECT to_regclass(%s)", (STATE_TABLE,))
        if cur.fetchone()[0] is None:  # an existing one is left as it is (COMMENT needs its owner)
            cur.execute(STATE_TABLE_DDL)
            done.append(f"table {STATE_TABLE}")
        state = sql.Identifier(STATE_TABLE)
        if replication_secret_arn:
            role = _login_role(cur, settings, replication_secret_arn)
            cur.execute(sql.SQL("GRANT rds_replication TO {}").format(role))  # Aurora's replication role
            cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
            cur.execute(sql.SQL("GRANT " + ", ".join(STATE_TABLE_PRIVILEGES) + " ON {} TO {}").format(state, role))
            done.append("replication role")
        if app_secret_arn:
            app = _login_role(cur, settings, app_secret_arn)
            cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(app))
            cur.execute(sql.SQL("GRANT " + APP_ROLE_GRANTS + " ON ALL TABLES IN SCHEMA public TO {}").format(app))
            cur.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(state, app))  # the relay's, not the workload's
            done.append("oltp app role")
        if dags_secret_arn:
            dags = _login_role(cur, settings, dags_secret_arn)
            cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(dags))
            tables = sql.SQL(", ").join(sql.Identifier(t) for t in DAGS_READ_TABLES)
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, dags))
            done.append("dags reader role")
    return done


def apply_all(settings: Settings, own: BootstrapSettings, *, topics: bool = True) -> BootstrapReport:
    """Topics and schemas; in AWS (``EB_PG_SECRET_ARN`` set) the database objects. Idempotent."""
    report = BootstrapReport(topics=apply_topics(settings) if topics else ApplyReport())
    report.schemas = register_schemas(settings)
    if settings.profile == "aws" and settings.pg_secret_arn:
        report.database = apply_database(settings, app_secret_arn=own.app_secret_arn,
                                         dags_secret_arn=own.dags_secret_arn,
                                         replication_secret_arn=own.pg_replication_secret_arn)
    log.info(
        "bootstrap applied",
        extra={
            "topics_created": report.topics.created,
            "topics_reconfigured": list(report.topics.reconfigured),
            "schemas": len(report.schemas),
            "database": report.database,
        },
    )
    return report
