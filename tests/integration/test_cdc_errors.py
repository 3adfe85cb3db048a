"""Bad input: each problem a user can fix is one clear error line and exit code 2 — no traceback, no loop.

Runs the real CLI (`python -m lambdas.cdc run`). The wal_level and REPLICATION cases need a server
set up wrong on purpose: a throwaway PostgreSQL 15 cluster on a free port, stopped afterwards.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventbus.settings import Settings
from local.stack.health import wait_until
from tests.support.cdc import ROOT, Scratch, relay_thread
from tests.support.harness import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture
def settings() -> Settings:
    return Settings(profile="local")


def run_cli(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, list[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "lambdas.cdc", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "EB_PROFILE": "local", "EB_LOG_JSON": "true", **(env or {})},
    )
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    return proc.returncode, lines, time.monotonic() - started


def one_error(lines: list[str]) -> str:
    """The single ERROR line of a run (and no traceback anywhere)."""
    assert not any("Traceback" in ln for ln in lines), "\n".join(lines)
    errors = [json.loads(ln)["msg"] for ln in lines if ln.startswith("{") and json.loads(ln)["level"] == "ERROR"]
    assert len(errors) == 1, "\n".join(lines)
    return str(errors[0])


def test_table_without_primary_key(settings: Settings) -> None:
    scratch = Scratch(settings, ddl="CREATE TABLE {t} (id text, v integer)")
    try:
        code, lines, took = run_cli(scratch.cli())
        msg = one_error(lines)
        assert code == 2 and took < 30
        assert f"{scratch.tables[0]} has no primary key" in msg and "ADD PRIMARY KEY" in msg
        assert scratch.sql("SELECT count(*) FROM pg_publication WHERE pubname = %s", (scratch.publication,)) == [(0,)]
    finally:
        scratch.cleanup()


def test_missing_table(settings: Settings) -> None:
    code, lines, _ = run_cli(["run", "--slot", "cdct_nosuch", "--publication", "cdct_nosuch",
                              "--tables", "public.no_such_table_here"])
    assert code == 2 and "does not exist" in one_error(lines)


def test_wrong_credentials() -> None:
    code, lines, took = run_cli(["run", "--slot", "cdct_badpw"], env={"EB_PG_PASSWORD": "not-the-password"})
    msg = one_error(lines)
    assert code == 2 and took < 30
    assert "password authentication failed" in msg and "EB_PG_PASSWORD" in msg


def test_missing_kafka_topic(settings: Settings) -> None:
    scratch = Scratch(settings)
    try:
        args = scratch.cli()
        args[args.index("--kafka-topic") + 1] = f"no_such_topic_{scratch.tag}"
        code, lines, _ = run_cli(args)
        assert code == 2 and "does not exist" in one_error(lines)
    finally:
        scratch.cleanup()


def test_dropped_slot_is_refused_then_resnapshot_recovers(settings: Settings) -> None:
    scratch = Scratch(settings)
    try:
        items = scratch.tables[0]
        scratch.sql(f"INSERT INTO {items} (id) VALUES ('x1')")
        with relay_thread(scratch.config(), settings):
            scratch.records(until=lambda r: len(r) >= 1)
        wait_until(lambda: scratch.slot_state()[0] is None, 15, "the walsender to release the slot")  # type: ignore[index]
        scratch.sql("SELECT pg_drop_replication_slot(%s)", (scratch.slot,))
        scratch.sql(f"INSERT INTO {items} (id) VALUES ('lost-from-wal')")

        code, lines, took = run_cli(scratch.cli())
        msg = one_error(lines)
        assert code == 2 and took < 30
        assert f"replication slot {scratch.slot!r} is gone" in msg and "--resnapshot" in msg

        with relay_thread(scratch.config(resnapshot=True), settings) as relay:
            records = scratch.records(until=lambda r: sum(x.op == "r" for x in r) >= 3)
            assert relay.metrics.snapshot_rows == 2
        assert {r.row["id"] for r in records if r.op == "r"} >= {"x1", "lost-from-wal"}
    finally:
        scratch.cleanup()


# --- a server configured wrong on purpose -----------------------------------------------------------
class Cluster:
    """A throwaway PostgreSQL 15 cluster (as the ``postgres`` OS user when run as root)."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip("PostgreSQL 15 server binaries not installed")
        self.root = Path(tempfile.mkdtemp(prefix="cdc-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8"])
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
            "host replication all 127.0.0.1/32 scram-sha-256\n"
        )

    def _run(self, argv: list[str]) -> None:
        subprocess.run([*self.as_user, *argv], check=True, capture_output=True, timeout=120)

    def start(self, wal_level: str) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                f"-c wal_level={wal_level} -c max_wal_senders=4 -c max_replication_slots=4 -c fsync=off")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-l",
                   str(self.root / "log"), "start"])

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)

    def psql(self, sql: str) -> None:
        self._run(["psql", "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                   "-c", sql])

    def env(self) -> dict[str, str]:
        return {"EB_PG_HOST": "127.0.0.1", "EB_PG_PORT": str(self.port), "EB_PG_USER": "plain",
                "EB_PG_PASSWORD": "plain", "EB_PG_DATABASE": "shop"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        c.start("replica")
        c.psql("CREATE ROLE plain LOGIN PASSWORD 'plain'")  # no REPLICATION attribute
        c.psql("CREATE DATABASE shop OWNER plain")
        yield c
    finally:
        c.stop()
        shutil.rmtree(c.root, ignore_errors=True)


def test_wal_level_not_logical(cluster: Cluster) -> None:
    code, lines, took = run_cli(["run", "--slot", "cdct_wal", "--tables", "whatever"], env=cluster.env())
    msg = one_error(lines)
    assert code == 2 and took < 30
    assert "wal_level=replica" in msg and "wal_level=logical" in msg and "rds.logical_replication" in msg


def test_user_without_replication(cluster: Cluster) -> None:
    cluster.stop()
    cluster.start("logical")
    code, lines, _ = run_cli(["run", "--slot", "cdct_norepl", "--tables", "whatever"], env=cluster.env())
    msg = one_error(lines)
    assert code == 2 and "ALTER ROLE plain REPLICATION" in msg and "rds_replication" in msg
