"""The local stack itself: each engine answers as configured, `up` is idempotent, Kafka survives a
stop/start drill, and a missing prerequisite says how to fix it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from contextlib import closing
from types import ModuleType

import psycopg2
import pytest
from confluent_kafka.admin import NewTopic

from eventbus import aws
from eventbus.catalog import load_catalog
from eventbus.kafka import Producer, make_admin
from eventbus.registry import SchemaRegistry
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.bootstrap.settings import BootstrapSettings
from local.stack import prereqs, state
from local.stack.exceptions import PrerequisiteError
from local.stack.health import port_open, wait_until
from local.stack.state import REPO_ROOT, current
from local.stack.supervision import Supervisor


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(profile="local")


def test_postgres_has_logical_wal_and_the_oltp_schema(settings: Settings) -> None:
    with closing(psycopg2.connect(settings.pg_dsn())) as conn, conn.cursor() as cur:
        cur.execute("SHOW wal_level")
        assert cur.fetchone() == ("logical",)
        cur.execute("SHOW max_replication_slots")
        row = cur.fetchone()
        assert row is not None and int(row[0]) >= 10
        cur.execute("SELECT rolreplication FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (True,)
        cur.execute(
            "SELECT c.relname, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"
        )
        tables = dict(cur.fetchall())
    assert {"users", "bookings", "payments"} <= set(tables)
    assert {tables[t] for t in ("users", "bookings", "payments")} == {"f"}  # REPLICA IDENTITY FULL


def test_postgres_listens_on_loopback_only(settings: Settings) -> None:
    with closing(psycopg2.connect(settings.pg_dsn())) as conn, conn.cursor() as cur:
        cur.execute("SHOW listen_addresses")
        assert cur.fetchone() == ("127.0.0.1",)


def test_kafka_has_every_catalog_topic_with_its_partitions(settings: Settings) -> None:
    catalog = load_catalog(settings)
    assert catalog, "the catalog lists no topic"
    topics = make_admin(settings).list_topics(timeout=10).topics
    got = {spec.name: len(topics[spec.name].partitions) for spec in catalog if spec.name in topics}
    assert got == {spec.name: spec.partitions for spec in catalog}


def test_emulator_answers_with_the_stack_buckets(settings: Settings) -> None:
    names = {b["Name"] for b in aws.client("s3", settings).list_buckets()["Buckets"]}
    assert {settings.lake_bucket, settings.checkpoint_bucket, BootstrapSettings().artifacts_bucket} <= names


def _pids(stack: ModuleType) -> dict[str, int]:
    sup = stack.Supervisor(stack.context().state)
    return {"supervisord": sup.pid(), **{i["name"]: i["pid"] for i in sup.all_info()}}


def test_up_when_up_is_a_no_op(stack: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    before = _pids(stack)
    assert stack.ensure_up() is False
    assert "already up — nothing to do" in capsys.readouterr().out
    assert _pids(stack) == before


def test_up_leaves_a_program_named_in_eb_stack_skip_stopped(stack: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """On a running stack too: ``EB_STACK_SKIP=console make local-up`` does not start the stopped console."""
    sup = Supervisor(current())
    stack.stop_program("console")
    try:
        monkeypatch.setenv("EB_STACK_SKIP", "console")
        capsys.readouterr()
        assert stack.ensure_up() is False
        assert "left out on purpose (EB_STACK_SKIP), not started: console" in capsys.readouterr().out
        assert sup.state_of("console") != "RUNNING"
    finally:
        monkeypatch.delenv("EB_STACK_SKIP")
        stack.ensure_up()  # healthy over HTTP; supervisord calls it RUNNING after its startsecs
    wait_until(lambda: sup.state_of("console") == "RUNNING", 30, "the console RUNNING again")


_CHILD_SESSION = """
from local.stack import control as stack
with stack.session():
    print("console during the session:", stack.Supervisor(stack.context().state).state_of("console"), flush=True)
"""


def test_a_test_session_leaves_the_users_stack_as_it_found_it(stack: ModuleType) -> None:
    """``EB_STACK_SKIP=console make local-up``, then a test run: the run starts the console for its
    tests and, as the last session to end, stops it again; the rest of the user's stack keeps running."""
    st, sup = current(), Supervisor(current())
    stack.stop_program("console")
    auto = state.auto_started_file(st)
    was_auto = auto.exists()
    # The child below must be the last session on a stack that is the user's: this pytest session's
    # lease and the test-started marker step aside for it.
    state.remove_lease(st)
    auto.unlink(missing_ok=True)
    try:
        env = {k: v for k, v in os.environ.items() if k != "EB_STACK_SKIP"}
        proc = subprocess.run([sys.executable, "-c", _CHILD_SESSION], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        # healthy over HTTP; supervisord may still call it STARTING (its startsecs)
        assert any(f"console during the session: {s}" in proc.stdout for s in ("RUNNING", "STARTING")), proc.stdout
        assert "stopped what the tests started on your stack: console" in proc.stdout
        assert sup.state_of("console") != "RUNNING"
        assert sup.state_of("kafka") == "RUNNING" and sup.state_of("gateway") == "RUNNING"
        assert state.take_session_programs(st) == []
    finally:
        state.add_lease(st)
        if was_auto:
            auto.touch()
        stack.ensure_up()
    wait_until(lambda: sup.state_of("console") == "RUNNING", 30, "the console RUNNING again")


def test_status_lists_programs_and_topics(settings: Settings) -> None:
    proc = subprocess.run([sys.executable, "-m", "local.stack", "status"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    for name in ["kafka", "postgres", *load_catalog(settings).names()]:
        assert name in proc.stdout


def test_kafka_stop_then_start_is_healthy_again(stack: ModuleType, settings: Settings) -> None:
    stack.stop_program("kafka")
    assert not port_open(9092)
    assert not stack.is_up()
    took = stack.start_program("kafka", timeout=120)
    assert took < 120
    assert stack.is_up()
    # Healthy means writable: a fresh topic takes an acknowledged, idempotent write.
    admin = make_admin(settings)
    probe = f"local-stack-probe-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(probe, 1, replication_factor=1)])[probe].result(timeout=30)
    try:
        producer = Producer(settings, client_id="stack-drill")
        producer.produce(probe, b"after restart", key=b"k")
        producer.flush(30)
        assert producer.delivered == 1
        producer.close()
    finally:
        admin.delete_topics([probe])[probe].result(timeout=30)


def test_schema_version_ids_survive_an_emulator_restart(stack: ModuleType, settings: Settings) -> None:
    """moto keeps the registry in memory; the stack registers every version again under the UUID of its
    text (local/stack/emulator.py), so records kept in Kafka still decode."""
    topic = "topic_app_logs"
    before = AvroSerde(settings).header(topic)
    stack.stop_program("emulator")
    stack.start_program("emulator", timeout=60)
    assert AvroSerde(settings).header(topic) == before
    definition = SchemaRegistry(settings).definition(uuid.UUID(bytes=before[2:18]))
    assert json.loads(definition) == json.loads(load_catalog(settings).get(topic).schema_text)


def test_missing_java_gives_a_one_line_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(PrerequisiteError) as err:
        prereqs.java()
    assert str(err.value).count("\n") == 0
    assert "fix: apt-get install -y openjdk-17-jre-headless" in str(err.value)


def test_missing_postgres_gives_a_one_line_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_LOCAL_PG_BIN", "/nonexistent/postgresql/15/bin")
    with pytest.raises(PrerequisiteError) as err:
        prereqs.postgres_bin(install=False)
    assert str(err.value).count("\n") == 0
    assert "fix: apt-get update && apt-get install -y postgresql-15" in str(err.value)


def test_port_taken_by_a_foreign_process_is_named(stack: ModuleType) -> None:
    ctx = stack.context()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        spec = stack.by_name("kafka")
        foreign = type(spec)(name="probe", command=spec.command, healthy=spec.healthy,
                             ports=lambda ctx: (port,))
        with pytest.raises(PrerequisiteError) as err:
            stack._check_ports([foreign], ctx)
    assert f"port {port} (for probe) is in use by" in str(err.value)
    assert f"python (pid {os.getpid()})" in str(err.value)  # `ss` names this very process
