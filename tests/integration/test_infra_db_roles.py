"""The AWS bootstrap's login roles against the real local PostgreSQL + the AWS emulator: the simulators'
workload gets DML on the OLTP tables and nothing else (never the master user); the DAGs (MWAA) get SELECT
on what the maps DAG queries and nothing else; the CDC relay's replication role may keep its state row and
stream, and may create nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import ModuleType

import psycopg2
import pytest

from eventbus import aws
from eventbus.postgres import STATE_TABLE
from eventbus.settings import Settings
from lambdas.bootstrap.apply import DAGS_READ_TABLES, apply_database
from lambdas.cdc.database import Database
from lambdas.cdc.exceptions import SetupError
from lambdas.cdc.relay import RelayConfig
from tests.support.cdc import Scratch, relay_thread, wait_caught_up

ROLE = "it_infra_oltp_app"
DAGS_ROLE = "it_infra_dags_reader"
REPLICATION_ROLE = "it_infra_cdc_relay"


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


@pytest.fixture
def replication_secret(stack: ModuleType) -> Iterator[tuple[Settings, str, str]]:
    """Aurora predefines ``rds_replication`` (the bootstrap grants it); a local cluster has none, so one is
    created for the test when missing (and dropped again)."""
    from local.stack import postgres

    superuser = Settings(profile="local", pg_host=str(postgres.socket_dir(stack.context())), pg_user="postgres")
    with psycopg2.connect(superuser.pg_dsn()) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_replication'")
        created = cur.fetchone() is None
        if created:
            cur.execute("CREATE ROLE rds_replication NOLOGIN")
    try:
        yield from _login_secret(stack, REPLICATION_ROLE)
    finally:
        if created:
            with psycopg2.connect(superuser.pg_dsn()) as conn, conn.cursor() as cur:
                cur.execute("DROP ROLE IF EXISTS rds_replication")


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


def _relay_db(role: str, password: str) -> Database:
    local = Settings(profile="local")
    return Database(_dsn(role, password), local.pg_host, local.pg_port, role, local.pg_database)


def test_replication_role_keeps_the_relays_state_row(replication_secret: tuple[Settings, str, str]) -> None:
    """The relay's start-up ran CREATE TABLE IF NOT EXISTS + COMMENT on cdc_relay_state: as the AWS role
    (no CREATE on schema public since PostgreSQL 15) that was 'permission denied' on every start."""
    settings, arn, password = replication_secret
    assert "replication role" in apply_database(settings, publication="it_infra_pub", replication_secret_arn=arn)
    assert "replication role" in apply_database(settings, publication="it_infra_pub", replication_secret_arn=arn)
    db, slot = _relay_db(REPLICATION_ROLE, password), f"it_infra_{uuid.uuid4().hex[:8]}"
    conn = db.connect()
    try:
        db.ensure_state_table(conn)
        db.record_snapshot_start(conn, slot, "it_infra_pub", "0/16B3748")
        db.record_snapshot_done(conn, slot, 3)
        state = db.state(conn, slot)
        assert state is not None and state["rows"] == 3 and state["completed_at"] is not None
        db.forget(conn, slot)
        assert db.state(conn, slot) is None
        with conn.cursor() as cur, pytest.raises(psycopg2.Error) as err:
            cur.execute("CREATE TABLE it_infra_z (a int)")
        assert err.value.pgcode == "42501"  # the bootstrap's grants and nothing more
    finally:
        conn.close()


def test_the_relay_streams_as_the_replication_role(replication_secret: tuple[Settings, str, str]) -> None:
    """The whole relay logged in as the role the bootstrap made. Locally ``rds_replication`` confers nothing,
    so the role gets the REPLICATION attribute it stands for on Aurora."""
    settings, arn, password = replication_secret
    apply_database(settings, publication="it_infra_pub", replication_secret_arn=arn)
    with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
        cur.execute(f"ALTER ROLE {REPLICATION_ROLE} REPLICATION")
    local = Settings(profile="local")
    scratch = Scratch(local, tables=())
    try:
        as_role = Settings(profile="local", pg_user=REPLICATION_ROLE, pg_password=password)
        config = RelayConfig(slot=scratch.slot, publication="it_infra_pub", kafka_topic=scratch.topic,
                             snapshot=False, heartbeat_s=1.0, feedback_interval=0.1)
        user_id = f"it-infra-{uuid.uuid4().hex[:8]}"
        with relay_thread(config, as_role):
            scratch.sql("INSERT INTO users (user_id, email, full_name, home_city) VALUES (%s, %s, 'IT', 'Hue')",
                        (user_id, f"{user_id}@example.com"))
            wait_caught_up(scratch)
            records = scratch.records(until=lambda r: any(x.key == f"public.users:{user_id}" for x in r))
        scratch.sql("DELETE FROM users WHERE user_id = %s", (user_id,))
        assert [r.op for r in records if r.key == f"public.users:{user_id}"] == ["c"]
    finally:
        scratch.cleanup()


def test_a_role_that_may_not_create_or_write_the_state_table_is_told_what_to_do(
        app_secret: tuple[Settings, str, str]) -> None:
    """One line naming the fix, never a traceback: the workload's role (no rights on the relay's table; the
    bootstrap revokes what its grant on all tables gave), then the same role where the table is missing."""
    settings, arn, password = app_secret
    apply_database(settings, publication="it_infra_pub", app_secret_arn=arn)
    db = _relay_db(ROLE, password)
    conn = db.connect()
    try:
        with pytest.raises(SetupError, match=f"lacks SELECT, INSERT, UPDATE, DELETE on {STATE_TABLE} — in AWS "
                                             "re-run the bootstrap"):
            db.ensure_state_table(conn)
        with conn.cursor() as cur:  # a schema of its own, where it may look but not create: no table there
            cur.execute("SET search_path = it_infra_empty")
        with psycopg2.connect(settings.pg_dsn()) as admin, admin.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS it_infra_empty; GRANT USAGE ON SCHEMA it_infra_empty TO {ROLE}")
        with pytest.raises(SetupError, match=f"may not create {STATE_TABLE} .*permission denied.* — in AWS the "
                                             "bootstrap creates it"):
            db.ensure_state_table(conn)
    finally:
        conn.close()
        with psycopg2.connect(settings.pg_dsn()) as admin, admin.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS it_infra_empty")
