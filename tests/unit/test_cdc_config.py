"""Relay configuration without a database: CLI, names, credentials from the secret, error wording."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import psycopg2
import pytest

from eventbus.settings import Settings
from lambdas.cdc.database import Database, _explain, check_name
from lambdas.cdc.exceptions import SetupError, Unavailable
from lambdas.cdc.relay import Relay, RelayConfig

ROOT = Path(__file__).resolve().parents[2]


def test_cli_help_lists_the_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "lambdas.cdc", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    for command in ("run", "status", "drop"):
        assert command in out.stdout
    run = subprocess.run([sys.executable, "-m", "lambdas.cdc", "run", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and "--resnapshot" in run.stdout and "--metrics-port" in run.stdout


@pytest.mark.parametrize("name", ["", "Upper", "has-dash", "x" * 64, "semi;colon"])
def test_slot_names_are_checked(name: str) -> None:
    with pytest.raises(SetupError, match="invalid"):
        check_name("slot", name)
    with pytest.raises(SetupError):
        Relay(RelayConfig(slot=name), Settings(profile="local"))


def test_credentials_come_from_the_secret(settings: Settings) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="cdc/replication", SecretString=json.dumps(
        {"username": "cdc_user", "password": "s3cret"}))["ARN"]
    cfg = settings.model_copy(update={"pg_secret_arn": arn})
    relay = Relay(RelayConfig(), cfg)
    assert "user=cdc_user password=s3cret" in relay.db.dsn
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "cdc_user", "password": "rotated"}))
    assert "password=rotated" in relay.db.dsn  # read per connect: rotation applies on reconnect


def test_missing_secret_is_a_setup_error(settings: Settings) -> None:
    cfg = settings.model_copy(update={"pg_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope"})
    with pytest.raises(SetupError, match="EB_PG_SECRET_ARN"):
        _ = Relay(RelayConfig(), cfg).db.dsn


@pytest.mark.parametrize(
    ("text", "kind", "needle"),
    [
        ('FATAL:  password authentication failed for user "travel"', SetupError, "EB_PG_PASSWORD"),
        ("FATAL:  must be superuser or replication role to start walsender", SetupError, "ALTER ROLE travel"),
        ('FATAL:  database "nope" does not exist', SetupError, "EB_PG_DATABASE"),
        ('FATAL:  no pg_hba.conf entry for replication connection from host "10.0.0.5"', SetupError, "pg_hba"),
        ('connection to server at "127.0.0.1", port 55432 failed: Connection refused', Unavailable, "make local-up"),
    ],
)
def test_connection_errors_say_what_to_do(text: str, kind: type, needle: str) -> None:
    err = _explain(psycopg2.OperationalError(text), "127.0.0.1:55432", "travel")
    assert isinstance(err, kind) and needle in str(err)


def test_database_accepts_a_plain_dsn() -> None:
    assert Database("host=x", "x", 1, "u", "d").dsn == "host=x"


@pytest.mark.parametrize("command", ["status", "drop"])
def test_unreachable_database_is_one_line_and_exit_1(command: str) -> None:
    """`status`/`drop` with PostgreSQL down: the relay's own message, no traceback (it once printed 17 lines)."""
    env = {**os.environ, "EB_PROFILE": "local", "EB_PG_HOST": "127.0.0.1", "EB_PG_PORT": "1", "EB_LOG_JSON": "false"}
    out = subprocess.run([sys.executable, "-m", "lambdas.cdc", command, "--slot", "x"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert out.returncode == 1, lines
    assert len(lines) == 1 and "PostgreSQL at 127.0.0.1:1 unreachable" in lines[0], lines
