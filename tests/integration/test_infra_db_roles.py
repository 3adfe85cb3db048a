"""The AWS bootstrap's OLTP login role against the real local PostgreSQL + the AWS emulator: the
simulators' workload gets DML on the OLTP tables and nothing else (never the master user)."""

from __future__ import annotations

import json
import uuid
from types import ModuleType

import psycopg2
import pytest

from eventbus import aws
from eventbus.bootstrap import apply_database
from eventbus.settings import Settings

ROLE = "it_infra_oltp_app"


@pytest.fixture
def app_secret(stack: ModuleType) -> tuple[Settings, str, str]:
    """A Terraform-shaped login secret in the emulator; the role is dropped afterwards. The bootstrap
    connects like Aurora's master user, a role that may create roles: locally the cluster superuser
    through its private unix socket (the stack's `travel` role may not)."""
    from local import postgres

    settings = Settings(profile="local", pg_host=str(postgres.socket_dir(stack.context())), pg_user="postgres")
    password = uuid.uuid4().hex
    sm = aws.client("secretsmanager", settings)
    arn = sm.create_secret(
        Name=f"it-infra/oltp-app-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"username": ROLE, "password": password, "engine": "postgres"}),
    )["ARN"]
    yield settings, arn, password
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
        cur.execute(f"DROP OWNED BY {ROLE}; DROP ROLE IF EXISTS {ROLE}")
        cur.execute("DROP PUBLICATION IF EXISTS it_infra_pub")


def test_oltp_app_role_gets_dml_only(app_secret: tuple[Settings, str, str]) -> None:
    settings, arn, password = app_secret
    first = apply_database(settings, publication="it_infra_pub", app_secret_arn=arn)
    again = apply_database(settings, publication="it_infra_pub", app_secret_arn=arn)  # idempotent
    assert "oltp app role" in first and "oltp app role" in again
    local = Settings(profile="local")
    dsn = f"host={local.pg_host} port={local.pg_port} dbname={local.pg_database} user={ROLE} "
    dsn += f"password={password}"
    user_id = f"it-infra-{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (user_id, email, full_name, home_city) VALUES (%s, %s, 'IT', 'Hanoi')",
            (user_id, f"{user_id}@example.com"),
        )
        cur.execute("UPDATE users SET home_city = 'Hue' WHERE user_id = %s", (user_id,))
        cur.execute("SELECT home_city FROM users WHERE user_id = %s", (user_id,))
        assert cur.fetchone() == ("Hue",)
        cur.execute("DELETE FROM users WHERE user_id = %s", (user_id,))
        assert cur.rowcount == 1
    for ddl in ("TRUNCATE payments", "CREATE TABLE it_infra_x (a int)", "DROP TABLE payments",
                "ALTER TABLE users ADD COLUMN it_x int", "CREATE PUBLICATION it_infra_pub2 FOR TABLE users"):
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
            cur.execute(ddl)
        assert err.value.pgcode in ("42501", "42P17"), f"{ddl}: {err.value}"  # insufficient_privilege
