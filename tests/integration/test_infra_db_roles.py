"""The AWS bootstrap's login roles against the real local PostgreSQL + the AWS emulator: the simulators'
workload gets DML on the OLTP tables and nothing else (never the master user); the DAGs (MWAA) get SELECT
on what the maps DAG queries and nothing else."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import ModuleType

import psycopg2
import pytest

from eventbus import aws
from eventbus.settings import Settings
from lambdas.bootstrap.apply import DAGS_READ_TABLES, apply_database

ROLE = "it_infra_oltp_app"
DAGS_ROLE = "it_infra_dags_reader"


def _login_secret(stack: ModuleType, role: str) -> Iterator[tuple[Settings, str, str]]:
    """A Terraform-shaped login secret in the emulator; the role is dropped afterwards. The bootstrap
    connects like Aurora's master user, a role that may create roles: locally the cluster superuser
    through its private unix socket (the stack's `travel` role may not)."""
    from local.stack import postgres

    settings = Settings(profile="local", pg_host=str(postgres.socket_dir(stack.context())), pg_user="postgres")
    password = uuid.uuid4().hex
    sm = aws.client("secretsmanager", settings)
    arn = sm.create_secret(
        Name=f"it-infra/{role.replace('_', '-')}-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"username": role, "password": password, "engine": "postgres"}),
    )["ARN"]
    yield settings, arn, password
    sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
        cur.execute(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")
        cur.execute("DROP PUBLICATION IF EXISTS it_infra_pub")


@pytest.fixture
def app_secret(stack: ModuleType) -> Iterator[tuple[Settings, str, str]]:
    yield from _login_secret(stack, ROLE)


@pytest.fixture
def dags_secret(stack: ModuleType) -> Iterator[tuple[Settings, str, str]]:
    yield from _login_secret(stack, DAGS_ROLE)


def _dsn(role: str, password: str) -> str:
    local = Settings(profile="local")
    return f"host={local.pg_host} port={local.pg_port} dbname={local.pg_database} user={role} password={password}"


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


def test_dags_reader_role_selects_bookings_only(dags_secret: tuple[Settings, str, str]) -> None:
    settings, arn, password = dags_secret
    assert "dags reader role" in apply_database(settings, publication="it_infra_pub", dags_secret_arn=arn)
    assert "dags reader role" in apply_database(settings, publication="it_infra_pub", dags_secret_arn=arn)
    assert DAGS_READ_TABLES == ("bookings",)
    with psycopg2.connect(_dsn(DAGS_ROLE, password)) as conn, conn.cursor() as cur:
        # the maps DAG's query shape (mwaa_dags/extdata/maps.py)
        cur.execute("SELECT destination, count(*), coalesce(sum(guests), 0), coalesce(sum(amount), 0), "
                    "count(*) FILTER (WHERE status = 'cancelled') FROM bookings GROUP BY destination")
        assert isinstance(cur.fetchall(), list)
    for stmt in ("SELECT 1 FROM users LIMIT 1", "SELECT 1 FROM payments LIMIT 1",
                 "DELETE FROM bookings WHERE false", "UPDATE bookings SET guests = guests WHERE false",
                 "INSERT INTO bookings SELECT * FROM bookings WHERE false", "CREATE TABLE it_infra_y (a int)"):
        with psycopg2.connect(_dsn(DAGS_ROLE, password)) as conn, conn.cursor() as cur, \
                pytest.raises(psycopg2.Error) as err:
            cur.execute(stmt)
        assert err.value.pgcode == "42501", f"{stmt}: {err.value}"  # insufficient_privilege
