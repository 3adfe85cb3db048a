"""The relay: preflight, publication, slot + initial snapshot, then streaming; reconnects on transient errors.

Start-up decides from the slot and the relay's state row (see ``database.py``):

=================  ================  =============================================================
slot               state row         action
=================  ================  =============================================================
missing            missing           create slot (exported snapshot), snapshot, stream
missing            snapshot done     the slot was dropped: changes are lost -> SetupError (say how
                                     to re-snapshot: ``--resnapshot``)
present            snapshot done     stream from the slot's confirmed LSN (restart / resume)
present            snapshot not done a snapshot was interrupted: drop the slot, start over
present            missing           adopt the slot (created elsewhere); stream without a snapshot
=================  ================  =============================================================

    >>> relay = Relay(RelayConfig(slot="travel_cdc"))
    >>> relay.run(stop_event)          # until stop_event is set (SIGTERM in the CLI)
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable
from typing import Any

import psycopg2

from eventbus.exceptions import BrokerUnavailableError
from eventbus.logging import get_logger
from eventbus.settings import Settings, get_settings
from lambdas.cdc.database import Database, Table, check_name
from lambdas.cdc.envelope import EnvelopeBuilder, KeySpec
from lambdas.cdc.exceptions import DeliveryFailed, SetupError, Unavailable
from lambdas.cdc.inflight import InFlight
from lambdas.cdc.lag import MetricsServer, RelayMetrics
from lambdas.cdc.pgoutput import Relation, format_lsn, parse_lsn
from lambdas.cdc.replication import Replicator
from lambdas.cdc.settings import RelayConfig
from lambdas.cdc.snapshot import take_snapshot
from lambdas.cdc.walstream import StreamClosed, WalStream

log = get_logger("cdc.relay")


class _Stopped(Exception):
    """Stop requested during the snapshot (it restarts on the next start)."""


class SideChannel:
    """A normal connection beside the stream: heartbeats, slot gauges, catalog look-ups."""

    def __init__(self, db: Database, slot: str) -> None:
        self.db, self.slot = db, slot
        self._conn: Any = None

    def _cursor(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = self.db.connect()
        return self._conn.cursor()

    def _safely(self, what: str, fn: Callable[[Any], Any]) -> Any:
        try:
            with self._cursor() as cur:
                return fn(cur)
        except (psycopg2.Error, Unavailable) as exc:
            log.warning(f"{what} failed: {str(exc).strip()}")
            self.close()
            return None

    def heartbeat(self, prefix: str, content: str) -> bool:
        sql = "SELECT pg_logical_emit_message(false, %s, %s)"
        return self._safely("heartbeat", lambda cur: cur.execute(sql, (prefix, content)) or True) is True

    def refresh(self, metrics: RelayMetrics) -> None:
        def query(cur: Any) -> None:
            cur.execute(
                "SELECT pg_current_wal_lsn()::text, confirmed_flush_lsn::text,"
                " pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
                " FROM pg_replication_slots WHERE slot_name = %s",
                (self.slot,),
            )
            row = cur.fetchone()
            if row is not None:
                metrics.server_lsn = parse_lsn(row[0])
                metrics.slot_confirmed_lsn = parse_lsn(row[1]) if row[1] else 0
                metrics.retained_bytes = int(row[2] or 0)

        self._safely("slot gauges", query)

    def describe(self, oid: int) -> Table:
        with self._cursor() as cur:
            return self.db.describe(cur.connection, oid)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Relay:
    def __init__(
        self,
        config: RelayConfig | None = None,
        settings: Settings | None = None,
        *,
        sink_factory: Callable[[InFlight], Any] | None = None,
    ) -> None:
        self.cfg = (config or RelayConfig()).model_copy()
        check_name("slot", self.cfg.slot)
        check_name("publication", self.cfg.publication)
        self.settings = settings or get_settings()
        s = self.settings
        self.db = Database(s.pg_dsn, s.pg_host, s.pg_port, s.pg_user, s.pg_database)
        self.metrics = RelayMetrics(self.cfg.slot)
        self.builder = EnvelopeBuilder(self.cfg.server_name, s.pg_database)
        self._sink_factory = sink_factory or self._kafka_sink
        self.sink: Any = None
        self._tables: dict[int, Table] = {}
        self._side: SideChannel | None = None

    def _kafka_sink(self, inflight: InFlight) -> Any:
        from lambdas.cdc.sink import EnvelopeSink

        overrides = {"linger.ms": self.cfg.linger_ms} if self.cfg.linger_ms is not None else {}
        return EnvelopeSink(
            self.settings, inflight, topic=self.cfg.topic, kafka_topic=self.cfg.kafka_topic,
            producer_overrides=overrides,
        )

    # -- run with reconnects ----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        server = None
        if self.cfg.metrics_port:
            try:
                server = MetricsServer(self.metrics, self.cfg.metrics_port).start()
            except OSError as exc:
                raise SetupError(f"cannot serve metrics on 127.0.0.1:{self.cfg.metrics_port}: {exc.strerror} — "
                                 "choose another --metrics-port (EB_CDC_METRICS_PORT) or 0 to turn it off") from None
        backoff = 1.0
        try:
            while not stop.is_set():
                try:
                    self._session(stop)
                    break
                except _Stopped:
                    log.warning("stopped during the snapshot; it starts over on the next start")
                    break
                except (Unavailable, StreamClosed, BrokerUnavailableError, psycopg2.OperationalError,
                        psycopg2.InterfaceError) as exc:
                    streamed = self.metrics.state == "streaming"
                    backoff = 1.0 if streamed else min(backoff * 2, self.cfg.retry_max_s)
                    self.metrics.reconnects += 1
                    self.metrics.state = "retrying"
                    log.warning(f"{str(exc).strip()} — retrying in {backoff:.0f} s")
                    if self.sink is not None:
                        try:
                            self.sink.flush(self.cfg.drain_timeout)  # in-flight acks belong to the old session
                        except DeliveryFailed as failed:
                            if not failed.transient:
                                raise
                            self._discard_sink(failed)
                    stop.wait(backoff)
                except DeliveryFailed as exc:
                    if not exc.transient:
                        raise
                    streamed = self.metrics.state == "streaming"
                    backoff = 1.0 if streamed else min(backoff * 2, self.cfg.retry_max_s)
                    self.metrics.reconnects += 1
                    self.metrics.state = "retrying"
                    self._discard_sink(exc)
                    stop.wait(backoff)
        except BaseException:
            if self.sink is not None:  # already failing: report that, do not wait on Kafka again
                with contextlib.suppress(Exception):
                    self.sink.close(0)
            raise
        else:
            if self.sink is not None:
                self.sink.close(self.cfg.drain_timeout)
        finally:
            if server is not None:
                server.close()

    def _discard_sink(self, failure: DeliveryFailed) -> None:
        """A transient delivery failure: a new producer replays from the slot (nothing was confirmed).

        librdkafka's fatal errors (e.g. an idempotent producer out of step with a restarted broker)
        leave the instance unable to send, and a delivery timeout leaves its queue in doubt: either
        way the old producer is purged and released, and the next session starts a new one.
        """
        log.error(f"{str(failure).strip()} — replacing the Kafka producer and resuming from the slot at "
                  f"{format_lsn(self.metrics.confirmed_lsn or 0)}")
        self.metrics.producer_replacements += 1
        sink, self.sink = self.sink, None
        discard = getattr(sink, "discard", None)
        with contextlib.suppress(Exception):
            discard() if discard is not None else sink.close(0)

    def _session(self, stop: threading.Event) -> None:
        cfg = self.cfg
        conn = self.db.connect()
        self._side = SideChannel(self.db, cfg.slot)
        repl = None
        try:
            self.db.preflight(conn)
            self.db.ensure_state_table(conn)
            wanted = [self.db.describe(conn, name) for name in cfg.tables]
            published = self.db.ensure_publication(conn, cfg.publication, wanted)
            for table in published:
                if table.replident != "f":
                    log.warning(
                        f"{table.qualified} has REPLICA IDENTITY {table.replident!r}: updates carry no before image "
                        f"— run `ALTER TABLE {table.qualified} REPLICA IDENTITY FULL` (schemas/sql/oltp.sql does)"
                    )
            self._tables = {t.oid: t for t in published}
            inflight = InFlight(0, on_complete=self.metrics.on_complete)
            if self.sink is None:
                self.sink = self._sink_factory(inflight)
            self.sink.inflight = inflight
            self.sink.check_topic()
            repl, start_lsn = self._prepare_slot(conn, published, stop)
            inflight.confirmed = start_lsn
            self._stream(repl, inflight, stop)
        finally:
            if repl is not None:
                repl.close()
            conn.close()
            self._side.close()

    def _prepare_slot(self, conn: Any, tables: list[Table], stop: threading.Event) -> tuple[Any, int]:
        cfg, db = self.cfg, self.db
        while True:
            slot, state = db.slot(conn, cfg.slot), db.state(conn, cfg.slot)
            if slot is not None:
                if slot["type"] != "logical" or slot["plugin"] != "pgoutput" or slot["database"] != db.dbname:
                    raise SetupError(
                        f"replication slot {cfg.slot!r} exists but is a {slot['type']} {slot['plugin']} slot on "
                        f"database {slot['database']!r} — choose another --slot, or drop it"
                    )
                if slot["active_pid"]:
                    raise Unavailable(
                        f"replication slot {cfg.slot!r} is in use by PID {slot['active_pid']} "
                        "(another relay, or the previous one still exiting)"
                    )
                if cfg.resnapshot:
                    log.warning(f"--resnapshot: dropping slot {cfg.slot!r} and taking a new snapshot")
                    db.drop_slot(conn, cfg.slot)
                    db.forget(conn, cfg.slot)
                    cfg.resnapshot = False
                    continue
                if state is None:
                    log.warning(f"slot {cfg.slot!r} existed without relay state: streaming from it, no snapshot")
                    db.record_snapshot_start(conn, cfg.slot, cfg.publication, format_lsn(slot["confirmed_flush_lsn"]))
                    db.record_snapshot_done(conn, cfg.slot, 0)
                elif state["completed_at"] is None:
                    log.warning(f"the snapshot for slot {cfg.slot!r} was interrupted: dropping the slot, starting over")
                    db.drop_slot(conn, cfg.slot)
                    continue
                log.info("resuming", extra={"slot": cfg.slot, "lsn": format_lsn(slot["confirmed_flush_lsn"])})
                return db.connect(replication=True), int(slot["confirmed_flush_lsn"])

            if state is not None and state["completed_at"] is not None and not cfg.resnapshot:
                raise SetupError(
                    f"replication slot {cfg.slot!r} is gone (dropped?) although this relay streamed from it since "
                    f"{state['completed_at']:%Y-%m-%d %H:%M}; changes made while it was missing are not in the WAL "
                    "any more — run once with --resnapshot to re-emit every row (op=r) and continue from there"
                )
            cfg.resnapshot = False
            repl = db.connect(replication=True)
            lsn, snapshot_name = db.create_slot(repl, cfg.slot)
            db.record_snapshot_start(conn, cfg.slot, cfg.publication, format_lsn(lsn))
            log.info("slot created", extra={"slot": cfg.slot, "lsn": format_lsn(lsn), "snapshot": cfg.snapshot})
            rows = self._snapshot(snapshot_name, tables, lsn, stop) if cfg.snapshot else 0
            db.record_snapshot_done(conn, cfg.slot, rows)
            return repl, lsn

    def _snapshot(self, snapshot_name: str, tables: list[Table], lsn: int, stop: threading.Event) -> int:
        self.metrics.state = "snapshot"
        sink = self.sink
        waiting = getattr(sink, "waiting", ())  # records the producer's full queue did not take yet
        sent = 0

        def send(change: Any) -> None:
            nonlocal sent
            sink.send(change, None)
            sent += 1
            if sent % 1000 == 0 or waiting:
                sink.poll(0)
                self.metrics.snapshot_rows = sent
                # Kafka slow or away: read no more rows than --max-inflight ahead of its acks
                while waiting or sink.pending() >= self.cfg.max_inflight:
                    if stop.is_set():
                        raise _Stopped()
                    sink.poll(0.05)
                if stop.is_set():
                    raise _Stopped()

        rows = take_snapshot(
            self.db, snapshot_name, tables, self.builder, send, lsn=lsn,
            progress=lambda table, n: log.info("snapshot progress", extra={"table": table, "rows": n}),
        )
        sink.flush(self.cfg.drain_timeout)
        self.metrics.snapshot_rows = rows
        log.info("snapshot done", extra={"rows": rows, "tables": [t.qualified for t in tables]})
        return rows

    def _stream(self, repl: Any, inflight: InFlight, stop: threading.Event) -> None:
        cfg = self.cfg
        cur = repl.cursor()
        options = {"proto_version": "1", "publication_names": cfg.publication, "messages": "true"}
        try:
            cur.start_replication(slot_name=cfg.slot, decode=False, options=options)
        except psycopg2.Error as exc:
            raise _stream_error(str(exc), cfg) from None
        replicator = Replicator(
            WalStream(repl), self.sink, inflight, self.builder, self.metrics,
            key_for=self._key_for, side=self._side, log=log, slot=cfg.slot,
            max_inflight=cfg.max_inflight, feedback_interval=cfg.feedback_interval,
            status_interval=cfg.status_interval, heartbeat_interval=cfg.heartbeat_s,
            log_interval=cfg.log_interval,
        )
        self.replicator = replicator
        gc.collect()
        gc.freeze()  # start-up objects out of the collector's way: shorter pauses in the hot loop
        log.info("streaming", extra={"slot": cfg.slot, "from": format_lsn(inflight.confirmed)})
        try:
            replicator.run(stop)
        except StreamClosed as exc:
            raise _stream_error(str(exc), cfg) from None
        replicator.drain(cfg.drain_timeout)
        log.info("stopped", extra={"confirmed_lsn": format_lsn(inflight.confirmed), "changes": replicator.changes})

    def _key_for(self, rel: Relation) -> KeySpec:
        known = self._tables.get(rel.oid)
        if known is not None and {c for c, _ in known.columns} == set(rel.names):
            return KeySpec(rel.namespace, rel.name, known.primary_key)
        assert self._side is not None
        try:
            table = self._side.describe(rel.oid)  # new table or new columns: re-read the primary key
        except SetupError as exc:
            # Changes of a table dropped (or stripped of its key) since they were written: never
            # stop the stream for them — key by what is known.
            key = known.primary_key if known is not None else (
                tuple(c.name for c in rel.columns if c.in_identity) or rel.names)
            log.warning(f"{rel.qualified_name}: {exc} — keying its changes by {', '.join(key)}")
            return KeySpec(rel.namespace, rel.name, key)
        self._tables[rel.oid] = table
        return KeySpec(rel.namespace, rel.name, table.primary_key)


def _stream_error(text: str, cfg: RelayConfig) -> Exception:
    low = text.lower()
    first = text.strip().splitlines()[0] if text.strip() else text
    if "replication slot" in low and "does not exist" in low:
        return SetupError(f"{first} — the slot was dropped; run with --resnapshot to start over from a new snapshot")
    if "publication" in low and "does not exist" in low:
        return SetupError(f"{first} — it is created at start-up; was it dropped? restart the relay")
    if "is active for pid" in low:
        return Unavailable(f"{first} (another relay, or the previous one still exiting)")
    return StreamClosed(first)
