"""The delivery guarantee, without services: the LSN sent to PostgreSQL never passes an unacknowledged record.

``InFlight`` on its own, then the ``Replicator`` loop fed protocol frames by a fake stream, with a
fake sink whose acknowledgements the test hands out in any order.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.cdc.envelope import Change, EnvelopeBuilder, KeySpec
from lambdas.cdc.exceptions import DeliveryFailed
from lambdas.cdc.inflight import InFlight, Unit
from lambdas.cdc.lag import RelayMetrics, percentile
from lambdas.cdc.pgoutput import Relation
from lambdas.cdc.replication import HEARTBEAT_PREFIX, Replicator
from lambdas.cdc.sink import EnvelopeSink
from local.stack.health import wait_until
from tests.unit import test_cdc_wire as w
from tests.unit.test_cdc_avro import _FixedRegistry

TEXT = 25


# --- InFlight ------------------------------------------------------------------------------------
def test_confirms_only_fully_acknowledged_prefix() -> None:
    done: list[int] = []
    f = InFlight(confirmed=100, on_complete=lambda u, _now: done.append(u.end_lsn))
    a, b = f.open_unit(0), None
    f.add(a)
    f.add(a)
    f.close_unit(a, 200)
    b = f.open_unit(0)
    f.add(b)
    f.close_unit(b, 300)
    f.ack(b)  # the later transaction first: nothing may be confirmed yet
    assert f.confirmed == 100 and done == [300]
    f.ack(a)
    assert f.confirmed == 100
    f.ack(a)
    assert f.confirmed == 300 and f.records == 0 and f.idle


def test_records_acked_before_the_commit_arrives() -> None:
    f = InFlight(confirmed=0)
    u = f.open_unit(0)
    f.add(u)
    f.ack(u)
    assert f.confirmed == 0  # commit not seen: more records may follow
    f.close_unit(u, 50)
    assert f.confirmed == 50


def test_empty_transaction_and_markers_wait_their_turn() -> None:
    f = InFlight(confirmed=0)
    a = f.open_unit(0)
    f.add(a)
    f.close_unit(a, 10)
    f.close_unit(f.open_unit(0), 20)  # no published rows
    f.marker(30, sent_ms=5)
    assert f.confirmed == 0 and not f.idle
    f.ack(a)
    assert f.confirmed == 30


def test_idle_advance_only_when_nothing_is_pending() -> None:
    f = InFlight(confirmed=10)
    assert f.advance_idle(50) and f.confirmed == 50
    assert not f.advance_idle(40)  # never backwards
    u = f.open_unit(0)
    assert not f.advance_idle(99) and f.confirmed == 50
    f.close_unit(u, 60)
    assert f.idle and f.confirmed == 60


def test_oldest_commit_ignores_markers() -> None:
    f = InFlight(confirmed=0)
    f.marker(5, sent_ms=1)
    u = f.open_unit(commit_ms=1234)
    f.add(u)
    assert f.oldest_commit_ms == 1234


# --- Replicator ----------------------------------------------------------------------------------
class FakeStream:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.flushes: list[int] = []
        self.last_feedback = 0.0

    def read(self) -> bytes | None:
        return self.frames.pop(0) if self.frames else None

    def wait(self, timeout: float) -> bool:
        return False

    def send_feedback(self, write_lsn: int, flush_lsn: int, reply: bool = False) -> None:
        assert write_lsn >= flush_lsn
        self.flushes.append(flush_lsn)


class FakeSink:
    """Holds every record until the test acknowledges it."""

    header = b"\x03\x00" + bytes(16)

    def __init__(self, inflight: InFlight) -> None:
        self.inflight = inflight
        self.sent: list[tuple[Any, Unit | None]] = []
        self.acked = 0

    def send(self, change: Change, unit: Unit | None) -> None:
        if unit is not None:
            self.inflight.add(unit)
        self.sent.append((change[0], unit))

    def send_encoded(self, key: bytes, value: bytes, unit: Unit) -> None:
        self.inflight.add(unit)
        self.sent.append((key.decode(), unit))

    def ack(self, *indexes: int) -> None:
        for i in indexes:
            unit = self.sent[i][1]
            assert unit is not None
            self.acked += 1
            self.inflight.ack(unit)

    def poll(self, timeout: float = 0) -> None:
        pass

    def flush(self, timeout: float) -> None:
        pass


def make(confirmed: int = 0x10, max_inflight: int = 1000,
         sink_factory: Any = FakeSink) -> tuple[Replicator, FakeStream, Any]:
    inflight = InFlight(confirmed)
    stream, sink = FakeStream(), sink_factory(inflight)
    metrics = RelayMetrics("t")
    inflight._on_complete = metrics.on_complete

    def key_for(rel: Relation) -> KeySpec:
        return KeySpec(rel.namespace, rel.name, ("id",))

    rep = Replicator(stream, sink, inflight, EnvelopeBuilder("travel", "travel"), metrics,  # type: ignore[arg-type]
                     key_for=key_for,
                     side=None, log=logging.getLogger("test"), slot="t", max_inflight=max_inflight)
    stream.frames.append(w.xlogdata(0, w.relation(1, "public", "items", [("id", TEXT), ("v", TEXT)])))
    return rep, stream, sink


def tx(begin_lsn: int, row_lsns: list[int], commit_end: int, xid: int) -> list[bytes]:
    frames = [w.xlogdata(begin_lsn, w.begin(commit_end - 8, 1_000_000, xid))]
    frames += [w.xlogdata(lsn, w.insert(1, [f"k{lsn}", "v"])) for lsn in row_lsns]
    return [*frames, w.xlogdata(commit_end, w.commit(commit_end - 8, commit_end, 1000000))]


def test_keepalive_inside_an_interleaved_transaction_confirms_nothing_unacked() -> None:
    """The case psycopg2's automatic keepalive flush gets wrong (see walstream.py)."""
    rep, stream, sink = make()
    # A commits first; B started earlier, so its Begin and rows carry positions *below* A's commit.
    stream.frames += tx(0x150, [0x150], 0x210, xid=1)
    stream.frames += tx(0x100, [0x120], 0x420, xid=2)[:2]  # Begin + row of B ...
    stream.frames.append(w.keepalive(0x400, reply=True))  # ... a keepalive asking for a reply ...
    rep.pump()
    sink.ack(0)  # A acknowledged, B not
    stream.frames.append(w.keepalive(0x400, reply=True))
    rep.pump()
    assert stream.flushes and max(stream.flushes) == 0x210  # not 0x400: B's row is not in Kafka
    stream.frames.append(tx(0x100, [0x120], 0x420, xid=2)[2])  # B's commit
    rep.pump()
    rep._feedback(0.0, force=True)
    assert stream.flushes[-1] == 0x210
    sink.ack(1)
    rep._feedback(0.0, force=True)
    assert stream.flushes[-1] == 0x420


def test_idle_keepalive_moves_the_slot() -> None:
    rep, stream, sink = make()
    stream.frames += tx(0x100, [0x100], 0x180, xid=1)
    rep.pump()
    sink.ack(0)
    stream.frames.append(w.keepalive(0x9000, reply=True))
    rep.pump()
    assert stream.flushes[-1] == 0x9000


def test_heartbeat_is_confirmed_after_earlier_records() -> None:
    rep, stream, sink = make()
    stream.frames += tx(0x100, [0x100], 0x180, xid=1)
    stream.frames.append(w.xlogdata(0x300, w.message(0x300, HEARTBEAT_PREFIX, b"t:1700000000000")))
    rep.pump()
    rep._feedback(0.0, force=True)
    assert stream.flushes[-1] == 0x10
    sink.ack(0)
    rep._feedback(0.0, force=True)
    assert stream.flushes[-1] == 0x300
    assert rep.metrics.heartbeat_lag_ms is not None


def test_max_inflight_pauses_reading() -> None:
    rep, stream, sink = make(max_inflight=3)
    stream.frames += tx(0x100, [0x101, 0x102, 0x103, 0x104, 0x105], 0x200, xid=1)
    rep.pump()
    assert len(sink.sent) == 3 and len(stream.frames) == 3  # two rows + commit still unread
    sink.ack(0, 1, 2)
    rep.pump()
    assert len(sink.sent) == 5 and not stream.frames


def test_every_record_is_keyed_and_counted_in_commit_order() -> None:
    rep, stream, sink = make()
    for xid, base in ((1, 0x100), (2, 0x200), (3, 0x300)):
        stream.frames += tx(base, [base + 1, base + 2], base + 0x80, xid=xid)
    rep.pump()
    assert [key for key, _ in sink.sent] == [f"public.items:k{n}" for n in (0x101, 0x102, 0x201, 0x202, 0x301, 0x302)]
    assert rep.changes == 6
    sink.ack(*range(6))
    rep._feedback(0.0, force=True)
    assert stream.flushes[-1] == 0x380 and rep.metrics.transactions == 3


# --- a full producer queue (the real sink and producer) ---------------------------------------------
def real_sink(bootstrap: str, **overrides: Any) -> Any:
    """A factory of the relay's real ``EnvelopeSink`` whose producer queue holds two records."""
    settings = Settings(profile="local", kafka_bootstrap=bootstrap)
    serde = AvroSerde(settings, registry=_FixedRegistry())  # type: ignore[arg-type]

    def factory(inflight: InFlight) -> EnvelopeSink:
        return EnvelopeSink(settings, inflight, topic="topic_cdc_changes", kafka_topic="test_cdc_queue", serde=serde,
                            producer_overrides={"queue.buffering.max.messages": 2, **overrides})
    return factory


def test_kafka_away_with_a_full_queue_pauses_reading_and_keeps_the_slot_alive() -> None:
    """Kafka away and the producer's queue full: produce() used to block 30 s (no status updates to the
    walsender meanwhile), then raise BufferError out of the relay (a traceback, exit 1). Now reading pauses,
    status updates go on, nothing is confirmed, and the drain fails like any Kafka outage (transient: the
    relay replaces its producer and replays from the slot)."""
    rep, stream, sink = make(sink_factory=real_sink("127.0.0.1:1"))  # delivery timeout: the default 120 s
    stream.frames += tx(0x100, [0x101 + i for i in range(6)], 0x200, xid=1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            rep.run(stop)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(stream.flushes) >= 5, 10, "status updates while the producer's queue is full",
                   interval=0.01, abort=lambda: repr(errors[0]) if errors else None)
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert rep.changes == 3 and len(stream.frames) == 4  # two queued, the third waits: three rows + commit unread
    assert set(stream.flushes) == {0x10}  # nothing confirmed
    with pytest.raises(DeliveryFailed) as failed:
        sink.flush(0.5)  # the relay's drain / reconnect: the Kafka outage path
    assert failed.value.transient, failed.value
    sink.discard()


def test_records_that_waited_for_queue_room_are_sent_and_only_then_confirmed() -> None:
    rep, stream, sink = make(sink_factory=real_sink("mock", **{"test.mock.num.brokers": 1, "linger.ms": 100}))
    rows = [0x101 + i for i in range(8)]
    stream.frames += tx(0x100, rows, 0x200, xid=1)
    try:
        rep.pump()
        assert sink.waiting and stream.frames, "the queue of two never filled: nothing tested"
        deadline = time.monotonic() + 30
        while stream.flushes[-1:] != [0x200] and time.monotonic() < deadline:
            rep.pump()
            sink.poll(0.01)
            rep._feedback(time.monotonic())
            assert stream.flushes[-1:] in ([], [0x10]) or sink.acked == len(rows)  # never ahead of the acks
        assert stream.flushes[-1] == 0x200 and sink.acked == len(rows) and not sink.waiting
        assert sink.queue_full >= 1 and sink.producer.failed == 0
    finally:
        sink.close(5)


@pytest.mark.parametrize(("samples", "pct", "expected"), [([], 50, None), ([5.0], 99, 5.0),
                                                          (list(range(1, 101)), 50, 50), (list(range(1, 101)), 99, 99)])
def test_percentile(samples: list[float], pct: float, expected: float | None) -> None:
    assert percentile(samples, pct) == expected
