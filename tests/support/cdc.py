"""Helpers of the CDC integration tests (no tests here): scratch tables/slots/topics, a relay in a
thread or a subprocess, a Kafka reader, a write-load thread.

Every test works on its own tables, slot, publication and topic (a random tag), so it neither sees
nor disturbs the relay of the local stack or other sessions, and drops all of them afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from confluent_kafka import KafkaError, TopicPartition

from eventbus.kafka import make_admin, make_consumer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.cdc.relay import Relay, RelayConfig
from local.stack.exceptions import NotReadyError
from local.stack.health import wait_until
from tests.support.harness import create_topics, delete_topics

ROOT = Path(__file__).resolve().parents[2]
ITEMS_DDL = (
    "CREATE TABLE {t} (id text PRIMARY KEY, v integer NOT NULL DEFAULT 0, amount numeric(12,2), ok boolean,"
    " at timestamptz NOT NULL DEFAULT now(), day date, note text, big text)"
)


def pg(settings: Settings) -> Any:
    conn = psycopg2.connect(settings.pg_dsn(), options="-c TimeZone=UTC")
    conn.autocommit = True
    return conn


@dataclass
class Record:
    key: str
    value: dict[str, Any]
    partition: int
    offset: int
    headers: dict[str, bytes] = field(default_factory=dict)

    @property
    def op(self) -> str:
        return str(self.value["op"])

    @property
    def row(self) -> dict[str, Any]:
        return self.value["after"] if self.value["after"] is not None else self.value["before"]


class Scratch:
    """Tables, a slot, a publication and a topic with a random tag; ``cleanup`` drops them all."""

    def __init__(self, settings: Settings, tables: tuple[str, ...] = ("items",), ddl: str = ITEMS_DDL,
                 identity_full: bool = True) -> None:
        self.settings = settings
        self.tag = uuid.uuid4().hex[:8]
        self.tables = [f"cdct_{self.tag}_{name}" for name in tables]
        self.slot = f"cdct_{self.tag}"
        self.publication = f"cdct_{self.tag}"
        self.topic = f"test_cdc_{self.tag}"
        self.conn = pg(settings)
        with self.conn.cursor() as cur:
            for table in self.tables:
                cur.execute(ddl.format(t=table))
                if identity_full:
                    cur.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        # kept: a collected admin client drops its pending requests; quiet during the Kafka drill
        self.admin = make_admin(settings, log_level=0)
        create_topics(settings, {self.topic: 4}, self.admin)
        self._serde = AvroSerde(settings)

    def sql(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def config(self, **overrides: Any) -> RelayConfig:
        base: dict[str, Any] = dict(
            slot=self.slot, publication=self.publication, tables=tuple(self.tables), kafka_topic=self.topic,
            heartbeat_s=1.0, log_interval=5.0, feedback_interval=0.1, drain_timeout=20.0,
        )
        base.update(overrides)
        return RelayConfig(**base)

    def cli(self, *extra: str) -> list[str]:
        """Arguments of `python -m lambdas.cdc` for this scratch set."""
        return ["run", "--slot", self.slot, "--publication", self.publication,
                "--tables", ",".join(self.tables), "--kafka-topic", self.topic, "--heartbeat-interval", "1",
                "--log-interval", "2", "--feedback-interval", "0.1", *extra]

    # -- Kafka -------------------------------------------------------------------------------------
    def records(self, until: Callable[[list[Record]], bool] | None = None, timeout: float = 30.0,
                settle: float = 0.0) -> list[Record]:
        """Every record of the topic (from the beginning), read until ``until`` holds (or the end). A topic the
        broker does not have (or has no partitions of) and a consumer error other than a partition's end raise:
        an empty answer is the topic's, never a read that saw nothing."""
        consumer = make_consumer(self.settings, group_id=f"test-{uuid.uuid4().hex[:8]}")
        try:
            meta = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
            if meta is None or meta.error is not None:
                raise AssertionError(f"cannot read {self.topic}: {meta.error if meta else 'not in the metadata'}")
            if not meta.partitions:
                raise AssertionError(f"cannot read {self.topic}: the broker lists no partitions of it")
            consumer.assign([TopicPartition(self.topic, p, 0) for p in meta.partitions])
            out: list[Record] = []
            deadline = time.monotonic() + timeout
            quiet_since = time.monotonic()
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None:
                    if until is None and time.monotonic() - quiet_since > max(settle, 1.0):
                        break
                    if until is not None and until(out) and time.monotonic() - quiet_since >= settle:
                        break
                    continue
                if (error := msg.error()) is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"reading {self.topic} [{msg.partition()}]: {error}")
                quiet_since = time.monotonic()
                key, value = msg.key(), msg.value()
                assert key is not None and value is not None, f"a change without key or value in {self.topic}"
                out.append(Record(key.decode(), self._serde.decode(value), msg.partition() or 0, msg.offset() or 0,
                                  dict(msg.headers() or [])))  # type: ignore[arg-type]  # a list of pairs here
            if until is not None and not until(out):
                raise AssertionError(f"only {len(out)} record(s) in {self.topic} after {timeout:.0f} s")
            return out
        finally:
            consumer.close()

    def leaders(self) -> str:
        """The topic's partition leaders as the broker reports them (a failed wait names them)."""
        try:
            meta = self.admin.list_topics(self.topic, timeout=5).topics[self.topic]
        except Exception as exc:  # the report of a failure must not fail itself
            return f"partition leaders of {self.topic} unknown ({exc})"
        parts = ", ".join(f"{p}: leader {i.leader}" + (f" ({i.error})" if i.error else "")
                          for p, i in sorted(meta.partitions.items()))
        return f"partition leaders of {self.topic}: {parts or meta.error}"

    # -- cleanup -----------------------------------------------------------------------------------
    def slot_state(self) -> tuple[Any, ...] | None:
        rows = self.sql("SELECT active_pid, confirmed_flush_lsn, pg_current_wal_lsn() FROM pg_replication_slots"
                        " WHERE slot_name = %s", (self.slot,))
        return rows[0] if rows else None

    def cleanup(self) -> None:
        def inactive() -> bool:
            state = self.slot_state()
            return state is None or state[0] is None

        try:
            wait_until(inactive, 15, f"slot {self.slot} to be released")
        finally:
            self.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (self.slot,))
            self.sql(f"DROP PUBLICATION IF EXISTS {self.publication}")
            if self.sql("SELECT to_regclass('cdc_relay_state')")[0][0]:
                self.sql("DELETE FROM cdc_relay_state WHERE slot_name = %s", (self.slot,))
            for table in self.tables:
                self.sql(f"DROP TABLE IF EXISTS {table} CASCADE")
            self.conn.close()
            delete_topics(self.settings, [self.topic], self.admin)


@contextmanager
def relay_thread(config: RelayConfig, settings: Settings, timeout: float = 60.0, **relay_kw: Any) -> Iterator[Relay]:
    """A relay streaming in a thread of this process; stopped (gracefully) on exit."""
    relay = Relay(config, settings, **relay_kw)
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            relay.run(stop)
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="cdc-relay", daemon=True)
    thread.start()
    try:
        wait_until(lambda: relay.metrics.state == "streaming" or bool(errors), timeout, "the relay to stream")
        if errors:
            raise errors[0]
        yield relay
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "relay thread did not stop"
    if errors:
        raise errors[0]


def wait_caught_up(scratch: Scratch, timeout: float = 60.0, relay: RelayProcess | None = None) -> None:
    """Wait until the slot confirmed (= Kafka acknowledged) everything written before this call.

    With ``relay`` (a child process), its exit ends the wait at once, and a failed wait carries the
    tail of its log: what it was doing is the first thing a failure needs.
    """
    target = lsn_int(scratch.sql("SELECT pg_current_wal_lsn()::text")[0][0])

    def confirmed() -> bool:
        state = scratch.slot_state()
        return bool(state and state[1] is not None and lsn_int(state[1]) >= target)

    def exited() -> str | None:
        code = relay.proc.poll() if relay is not None else None
        return None if code is None else f"the relay exited with code {code}"

    try:
        wait_until(confirmed, timeout, f"the slot {scratch.slot} to confirm everything written", abort=exited)
    except NotReadyError as exc:
        if relay is None:
            raise
        raise NotReadyError(f"{exc}; {scratch.leaders()}; the relay's log ends:\n{relay.log_text()[-4000:]}") from None


def lsn_int(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


class RelayProcess:
    """``python -m lambdas.cdc <argv>`` as a child process (the drills SIGKILL it)."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        env = {**os.environ, "EB_PROFILE": "local", "EB_LOG_JSON": "true"}
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait/kill
        self.proc = subprocess.Popen([sys.executable, "-m", "lambdas.cdc", *argv], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_streaming(self, timeout: float = 60.0) -> None:
        wait_until(lambda: '"streaming"' in self.log_text() or self.proc.poll() is not None, timeout,
                 "the relay process to stream", interval=0.05)
        assert self.proc.poll() is None, f"relay exited {self.proc.returncode}:\n{self.log_text()[-3000:]}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()


class Writer(threading.Thread):
    """Write load: transactions of ``batch`` statements (new rows and updates of known ones).

    Every row carries a version ``v`` bumped by each update, and ``committed`` records every
    (id, v) whose transaction committed — the ground truth the tests hold Kafka against.
    """

    def __init__(self, settings: Settings, table: str, *, rate_tx: float = 50, batch: int = 10,
                 prefix: str = "w") -> None:
        super().__init__(name="cdc-writer", daemon=True)
        self.settings, self.table, self.rate_tx, self.batch, self.prefix = settings, table, rate_tx, batch, prefix
        self.stop_event = threading.Event()
        self.committed: set[tuple[str, int]] = set()
        self.versions: dict[str, int] = {}
        self.errors: list[BaseException] = []
        self.transactions = 0

    def run(self) -> None:
        conn = psycopg2.connect(self.settings.pg_dsn())
        n = 0
        interval = 1.0 / self.rate_tx
        next_at = time.monotonic()
        try:
            while not self.stop_event.is_set():
                pending: list[tuple[str, int]] = []
                with conn.cursor() as cur:
                    for i in range(self.batch):
                        if i % 2 == 0 or not self.versions:
                            key = f"{self.prefix}{n}"
                            n += 1
                            cur.execute(f"INSERT INTO {self.table} (id, v, amount) VALUES (%s, 0, %s)", (key, n % 997))
                            pending.append((key, 0))
                        else:
                            key = f"{self.prefix}{(n * 7919) % n}"
                            v = self.versions.get(key, 0) + 1 if key in self.versions else None
                            if v is None:
                                continue
                            cur.execute(f"UPDATE {self.table} SET v = %s WHERE id = %s", (v, key))
                            pending.append((key, v))
                            self.versions[key] = v
                conn.commit()
                self.transactions += 1
                for key, v in pending:
                    self.committed.add((key, v))
                    self.versions[key] = max(v, self.versions.get(key, 0))
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            conn.close()

    def finish(self) -> None:
        self.stop_event.set()
        self.join(30)
        if self.errors:
            raise self.errors[0]
