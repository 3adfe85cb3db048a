"""No statement with a password reaches the database log: the AWS bootstrap's login roles, created against the
stack's PostgreSQL with Aurora's logging (`log_statement = ddl`, infra/modules/aurora) made stricter still
(`log_min_duration_statement = 0`: every statement logged with its text), then the server log is grepped.

The settings apply to the bootstrap's own session only (PGOPTIONS; the session is the cluster superuser's,
which may set them), so the shared stack is not reconfigured."""

from __future__ import annotations

import json
import time
import uuid
from types import ModuleType

import psycopg2
import pytest

from eventbus import aws
from eventbus.settings import Settings
from lambdas.bootstrap.apply import apply_database

ROLE = "it_infra_log_app"


def _log_tail(path: str, start: int, needle: str, timeout_s: float = 10) -> str:
    """The server log written since ``start``, once it holds ``needle`` (PostgreSQL writes it asynchronously
    through the process manager) or the deadline passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        with open(path, "rb") as fh:
            fh.seek(start)
            text = fh.read().decode(errors="replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


def test_bootstrap_sends_no_password_to_the_database_log(stack: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    from local.stack import postgres

    ctx = stack.context()
    log = ctx.state.program_log(postgres.NAME)
    settings = Settings(profile="local", pg_host=str(postgres.socket_dir(ctx)), pg_user="postgres")
    password = f"pw{uuid.uuid4().hex}"  # a password the log must never contain
    sm = aws.client("secretsmanager", settings)
    arn = sm.create_secret(Name=f"it-infra/log-{uuid.uuid4().hex[:8]}",
                           SecretString=json.dumps({"username": ROLE, "password": password}))["ARN"]
    monkeypatch.setenv("PGOPTIONS", "-c log_statement=ddl -c log_min_duration_statement=0")
    start = log.stat().st_size
    try:
        apply_database(settings, publication="it_infra_log_pub", app_secret_arn=arn)
        apply_database(settings, publication="it_infra_log_pub", app_secret_arn=arn)  # CREATE, then ALTER ROLE
        text = _log_tail(str(log), start, f'ALTER ROLE "{ROLE}"')
        # the log did record the role statements (so the grep below could have found a password)
        assert f'CREATE ROLE "{ROLE}" WITH LOGIN PASSWORD \'SCRAM-SHA-256$' in text, text[-2000:]
        assert f'ALTER ROLE "{ROLE}" WITH LOGIN PASSWORD \'SCRAM-SHA-256$' in text, text[-2000:]
        assert password not in text
        # and the role logs in with the password its verifier was made from (without the superuser's options)
        monkeypatch.delenv("PGOPTIONS")
        local = Settings(profile="local")
        with psycopg2.connect(host=local.pg_host, port=local.pg_port, dbname=local.pg_database, user=ROLE,
                              password=password, connect_timeout=5) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (ROLE,)
    finally:
        monkeypatch.delenv("PGOPTIONS", raising=False)
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
        with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
            cur.execute(f"DROP OWNED BY {ROLE}; DROP ROLE IF EXISTS {ROLE}")
            cur.execute("DROP PUBLICATION IF EXISTS it_infra_log_pub")
