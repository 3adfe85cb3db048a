"""The streaming loop: WAL messages -> envelopes -> Kafka, and the confirmed LSN back to PostgreSQL.

Single-threaded on purpose: delivery reports are served by ``sink.poll`` on this thread, so the
in-flight bookkeeping needs no locks. Each pass reads a bounded batch of messages (never more than
``max_inflight`` records awaiting Kafka, none while the producer's queue is full — backpressure instead
of unbounded memory; a large transaction streams through record by record), serves delivery reports,
sends the confirmed LSN at most every ``feedback_interval`` seconds and a status update at least every
``status_interval`` seconds (so ``wal_sender_timeout`` never fires, even while Kafka is down).

Quiet databases: a keepalive that arrives while nothing is in flight confirms the server's
``wal_end`` (every change before it has been sent and handled); a heartbeat
(``pg_logical_emit_message``) every ``heartbeat_interval`` seconds also measures end-to-end lag.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sized
from typing import Any

from lambdas.cdc.envelope import EnvelopeBuilder, KeySpec, TxContext
from lambdas.cdc.exceptions import ProtocolError
from lambdas.cdc.inflight import InFlight, Unit
from lambdas.cdc.lag import RelayMetrics, percentile
from lambdas.cdc.pgoutput import (
    Begin,
    Commit,
    Decoder,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    Relation,
    Truncate,
    TypeInfo,
    Update,
    format_lsn,
)
from lambdas.cdc.transcode import Transcoder
from lambdas.cdc.walstream import PAYLOAD_OFFSET, WalStream

HEARTBEAT_PREFIX = "travel-cdc-heartbeat"
_U64 = struct.Struct(">Q").unpack_from
_W, _K = ord("w"), ord("k")
_INSERT, _UPDATE, _DELETE = ord("I"), ord("U"), ord("D")


class Replicator:
    def __init__(
        self,
        stream: WalStream,
        sink: Any,
        inflight: InFlight,
        builder: EnvelopeBuilder,
        metrics: RelayMetrics,
        *,
        key_for: Callable[[Relation], KeySpec],
        side: Any | None,
        log: Any,
        slot: str,
        max_inflight: int = 100_000,
        feedback_interval: float = 0.2,
        status_interval: float = 10.0,
        heartbeat_interval: float = 10.0,
        log_interval: float = 10.0,
    ) -> None:
        self.stream, self.sink, self.inflight, self.builder, self.metrics = stream, sink, inflight, builder, metrics
        self.decoder = Decoder()
        self.transcoder = Transcoder(sink.header, builder.server_name, builder.database)
        tc = self.transcoder
        self._fast = {_INSERT: tc.insert, _UPDATE: tc.update, _DELETE: tc.delete}
        self.key_for, self.side, self.log, self.slot = key_for, side, log, slot
        self.max_inflight = max_inflight
        self.feedback_interval, self.status_interval = feedback_interval, status_interval
        self.heartbeat_interval, self.log_interval = heartbeat_interval, log_interval
        # records the producer's full queue did not take yet; a sink without a queue of its own (the
        # benchmark's NullSink, bench/cdc.py) has none
        self.waiting: Sized = getattr(sink, "waiting", ())
        self.tx: TxContext | None = None
        self.unit: Unit | None = None
        self.received = inflight.confirmed
        self.sent_flush = -1
        self.changes = 0
        self._columns: dict[int, tuple[str, ...]] = {}
        self._handlers: dict[type, Callable[[Any, int], None]] = {
            Insert: self._insert,
            Update: self._update,
            Delete: self._delete,
            Begin: self._begin,
            Commit: self._commit,
            Relation: self._relation,
            Truncate: self._truncate,
            LogicalMessage: self._message,
            Origin: _ignore,
            TypeInfo: _ignore,
        }

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        inflight, sink = self.inflight, self.sink
        now = time.monotonic()
        next_feedback, next_heartbeat, next_log = now, now + self.heartbeat_interval, now + self.log_interval
        last_log = (now, 0, 0)
        self.metrics.state = "streaming"
        while not stop.is_set():
            got = self.pump()
            sink.poll(0)
            now = time.monotonic()
            if now >= next_feedback:
                self._feedback(now)
                next_feedback = now + self.feedback_interval
            if now >= next_heartbeat and self.heartbeat_interval > 0:
                self._heartbeat()
                next_heartbeat = now + self.heartbeat_interval
            if now >= next_log:
                last_log = self._log_status(now, last_log)
                next_log = now + self.log_interval
            if got == 0:
                if inflight.records >= self.max_inflight or self.waiting:
                    sink.poll(0.005)  # Kafka is slow or away: wait for acks / queue room, keep the slot alive
                elif inflight.records:
                    self.stream.wait(0.001)
                else:
                    self.stream.wait(0.05)
        self.metrics.state = "stopping"

    def pump(self, batch: int = 2000) -> int:
        """Read and handle up to ``batch`` buffered messages (fewer once ``max_inflight`` is reached or the
        producer's queue is full: records wait in the sink's ``waiting``)."""
        read, decode, handlers = self.stream.read, self.decoder.decode, self._handlers
        inflight, send_encoded, fast, limit = self.inflight, self.sink.send_encoded, self._fast, self.max_inflight
        waiting = self.waiting
        got = 0
        while got < batch and inflight.records < limit and not waiting:
            buf = read()
            if buf is None:
                break
            got += 1
            if buf[0] == _W:
                (lsn,) = _U64(buf, 1)
                transcode = fast.get(buf[PAYLOAD_OFFSET])
                encoded = None if transcode is None else transcode(buf, PAYLOAD_OFFSET, self.tx, lsn)  # type: ignore[arg-type]
                if encoded is not None:  # the hot path: row change -> framed envelope in one pass
                    send_encoded(encoded[0], encoded[1], self.unit)
                    self.changes += 1
                else:
                    msg = decode(buf, PAYLOAD_OFFSET)
                    handlers[type(msg)](msg, lsn)
                if lsn > self.received:
                    self.received = lsn
            elif buf[0] == _K:
                self._keepalive(buf)
            else:
                raise ProtocolError(f"unexpected replication message type {chr(buf[0])!r}")
        return got

    def drain(self, timeout: float) -> None:
        """After the loop: wait for every ack, then confirm the final position."""
        self.sink.flush(timeout)
        self._feedback(time.monotonic(), force=True)

    # -- replication messages ---------------------------------------------------------------------
    def _begin(self, msg: Begin, _lsn: int) -> None:
        self.tx = self.builder.begin(msg)
        self.unit = self.inflight.open_unit(self.tx.commit_ms)

    def _commit(self, msg: Commit, _lsn: int) -> None:
        if self.unit is None:
            raise ProtocolError("Commit without Begin")
        self.inflight.close_unit(self.unit, msg.end_lsn)
        self.tx = self.unit = None

    def _insert(self, msg: Insert, lsn: int) -> None:
        for change in self.builder.insert(self.tx, msg, lsn):  # type: ignore[arg-type]
            self.sink.send(change, self.unit)
            self.changes += 1

    def _update(self, msg: Any, lsn: int) -> None:
        for change in self.builder.update(self.tx, msg, lsn):  # type: ignore[arg-type]
            self.sink.send(change, self.unit)
            self.changes += 1

    def _delete(self, msg: Delete, lsn: int) -> None:
        for change in self.builder.delete(self.tx, msg, lsn):  # type: ignore[arg-type]
            self.sink.send(change, self.unit)
            self.changes += 1

    def _truncate(self, msg: Truncate, lsn: int) -> None:
        for rel in msg.relations:
            self.sink.send(self.builder.truncate(self.tx, rel, lsn), self.unit)  # type: ignore[arg-type]
            self.changes += 1

    def _relation(self, rel: Relation, _lsn: int) -> None:
        rel.key = self.key_for(rel)
        self.transcoder.relation(rel)
        previous = self._columns.get(rel.oid)
        if previous is not None and previous != rel.names:
            self.log.info(
                "schema change",
                extra={
                    "table": rel.qualified_name,
                    "added": [c for c in rel.names if c not in previous],
                    "removed": [c for c in previous if c not in rel.names],
                },
            )
        self._columns[rel.oid] = rel.names

    def _message(self, msg: LogicalMessage, lsn: int) -> None:
        if msg.transactional:
            return  # inside a transaction: its commit carries the position
        sent_ms = 0
        if msg.prefix == HEARTBEAT_PREFIX:
            slot, _, stamp = msg.content.decode(errors="replace").partition(":")
            if slot == self.slot and stamp.isdigit():
                sent_ms = int(stamp)
        self.inflight.marker(lsn, sent_ms)

    def _keepalive(self, buf: bytes) -> None:
        (wal_end,) = _U64(buf, 1)
        self.metrics.keepalives += 1
        if self.inflight.idle:
            self.inflight.advance_idle(wal_end)
        if buf[17]:
            self._feedback(time.monotonic(), force=True)

    # -- periodic work ----------------------------------------------------------------------------
    def _feedback(self, now: float, force: bool = False) -> None:
        confirmed = self.inflight.confirmed
        if force or confirmed != self.sent_flush or now - self.stream.last_feedback >= self.status_interval:
            self.stream.send_feedback(max(self.received, confirmed), confirmed)
            self.sent_flush = confirmed
        self._sync_metrics()

    def _heartbeat(self) -> None:
        if self.side is None:
            return
        if self.side.heartbeat(HEARTBEAT_PREFIX, f"{self.slot}:{int(time.time() * 1000)}"):
            self.metrics.heartbeats_sent += 1
        self.side.refresh(self.metrics)  # server WAL position and slot gauges (lag_bytes, retained_bytes)

    def _sync_metrics(self) -> None:
        m = self.metrics
        m.changes, m.acked, m.inflight_records = self.changes, self.sink.acked, self.inflight.records
        m.received_lsn, m.confirmed_lsn = self.received, self.inflight.confirmed
        oldest = self.inflight.oldest_commit_ms
        m.lag_ms = max(0.0, time.time() * 1000 - oldest) if oldest is not None else 0.0

    def _log_status(self, now: float, last: tuple[float, int, int]) -> tuple[float, int, int]:
        m = self.metrics
        self._sync_metrics()
        if self.side is not None:
            self.side.refresh(m)  # server WAL position, slot gauges
        then, changes0, acked0 = last
        elapsed = max(now - then, 1e-6)
        window = m.take_window()
        self.log.info(
            "cdc status",
            extra={
                "changes_per_s": round((self.changes - changes0) / elapsed, 1),
                "acked_per_s": round((self.sink.acked - acked0) / elapsed, 1),
                "p50_ms": percentile(window, 50),
                "p99_ms": percentile(window, 99),
                "confirmed_lsn": format_lsn(self.inflight.confirmed),
                **{k: v for k, v in m.as_dict().items() if k in _LOGGED},
            },
        )
        return now, self.changes, self.sink.acked


_LOGGED = ("changes", "acked", "inflight_records", "lag_bytes", "retained_bytes", "lag_ms", "heartbeat_lag_ms")


def _ignore(_msg: Any, _lsn: int) -> None:
    pass
