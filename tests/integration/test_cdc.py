"""The CDC relay against the stack's real PostgreSQL and Kafka: envelopes, snapshot, transactions, restarts."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterator

import pytest

from eventbus.settings import Settings
from lambdas.cdc.envelope import UNAVAILABLE
from lambdas.cdc.inflight import InFlight
from lambdas.cdc.sink import EnvelopeSink
from local.stack.health import wait_until
from tests.support.cdc import Scratch, Writer, relay_thread, wait_caught_up

# ~130 kB of md5 hex: stored out of line (TOAST) even compressed.
BIG_ROW = "INSERT INTO {t} (id, big) SELECT 't', string_agg(md5(i::text), '') FROM generate_series(1, 4000) i"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def settings() -> Settings:
    return Settings(profile="local")


@pytest.fixture
def scratch(settings: Settings) -> Iterator[Scratch]:
    s = Scratch(settings, tables=("items", "extras"))
    yield s
    s.cleanup()


def test_insert_update_delete_truncate_envelopes(scratch: Scratch, settings: Settings) -> None:
    items = scratch.tables[0]
    with relay_thread(scratch.config(), settings):
        scratch.sql(f"INSERT INTO {items} (id, v, amount, ok, day) VALUES ('a', 1, 12.50, true, '2024-05-01')")
        scratch.sql(f"UPDATE {items} SET v = 2, amount = 13.75 WHERE id = 'a'")
        scratch.sql(f"DELETE FROM {items} WHERE id = 'a'")
        scratch.sql(f"TRUNCATE {items}")
        records = scratch.records(until=lambda r: len(r) >= 4)

    row_changes = [r for r in records if r.op != "t"]
    assert [r.op for r in row_changes] == ["c", "u", "d"]  # one key: one partition, in order
    records.sort(key=lambda r: r.value["source"]["lsn"])
    assert [r.op for r in records] == ["c", "u", "d", "t"]
    create, update, delete, truncate = records
    assert create.key == update.key == delete.key == f"public.{items}:a"
    assert truncate.key == f"public.{items}"

    assert create.value["before"] is None
    after = create.value["after"]
    assert after["id"] == "a" and after["v"] == 1 and after["amount"] == "12.50" and after["ok"] is True
    assert after["day"] == "2024-05-01" and ISO_UTC.match(after["at"]) and after["note"] is None

    assert update.value["before"]["v"] == 1 and update.value["before"]["amount"] == "12.50"
    assert update.value["after"]["v"] == 2 and update.value["after"]["amount"] == "13.75"
    assert delete.value["before"]["v"] == 2 and delete.value["after"] is None
    assert truncate.value["before"] is None and truncate.value["after"] is None

    for r in records:
        src = r.value["source"]
        assert (src["connector"], src["name"], src["db"], src["schema"], src["table"]) == (
            "postgresql", "travel", settings.pg_database, "public", items)
        assert src["snapshot"] == "false" and isinstance(src["txId"], int) and src["lsn"] > 0
        assert r.value["transaction"]["id"].startswith(f"{src['txId']}:")
        assert r.value["ts_ms"] >= src["ts_ms"] > 0
    assert len({r.value["source"]["txId"] for r in records}) == 4  # four autocommit transactions
    lsns = [r.value["source"]["lsn"] for r in records]
    assert lsns == sorted(lsns)


def test_primary_key_change_is_delete_then_create(scratch: Scratch, settings: Settings) -> None:
    items = scratch.tables[0]
    scratch.sql(f"INSERT INTO {items} (id, v) VALUES ('old', 1)")
    with relay_thread(scratch.config(snapshot=False), settings):
        scratch.sql(f"UPDATE {items} SET id = 'new' WHERE id = 'old'")
        records = scratch.records(until=lambda r: len(r) >= 2)
    by_op = {r.op: r for r in records}
    assert set(by_op) == {"d", "c"}
    assert by_op["d"].key == f"public.{items}:old" and by_op["d"].value["before"]["id"] == "old"
    assert by_op["c"].key == f"public.{items}:new" and by_op["c"].value["after"]["id"] == "new"
    assert by_op["d"].headers["__debezium.newkey"] == f"public.{items}:new".encode()
    assert by_op["d"].value["transaction"]["total_order"] == 1 and by_op["c"].value["transaction"]["total_order"] == 2


def test_unchanged_toast_value_comes_from_the_before_image(scratch: Scratch, settings: Settings) -> None:
    items = scratch.tables[0]
    scratch.sql(BIG_ROW.format(t=items))
    big = scratch.sql(f"SELECT big FROM {items} WHERE id = 't'")[0][0]
    with relay_thread(scratch.config(snapshot=False), settings):
        scratch.sql(f"UPDATE {items} SET v = 5 WHERE id = 't'")  # big untouched: pgoutput sends 'u'
        records = scratch.records(until=lambda r: len(r) >= 1)
    (update,) = records
    assert update.value["after"]["v"] == 5
    assert update.value["after"]["big"] == big  # not a placeholder, not garbage
    assert update.value["before"]["big"] == big


def test_unchanged_toast_without_before_image_is_debeziums_placeholder(settings: Settings) -> None:
    scratch = Scratch(settings, identity_full=False)
    try:
        items = scratch.tables[0]
        scratch.sql(BIG_ROW.format(t=items))
        with relay_thread(scratch.config(snapshot=False), settings):
            scratch.sql(f"UPDATE {items} SET v = 6 WHERE id = 't'")
            (update,) = scratch.records(until=lambda r: len(r) >= 1)
        assert update.value["before"] is None  # REPLICA IDENTITY DEFAULT: no before image
        assert update.value["after"]["v"] == 6 and update.value["after"]["big"] == UNAVAILABLE
    finally:
        scratch.cleanup()


def test_transaction_boundaries_and_order(scratch: Scratch, settings: Settings) -> None:
    items, extras = scratch.tables
    with relay_thread(scratch.config(snapshot=False), settings):
        conn = scratch.conn
        conn.autocommit = False
        with conn.cursor() as cur:
            for i in range(5):
                cur.execute(f"INSERT INTO {items} (id, v) VALUES (%s, 0)", (f"k{i}",))
                cur.execute(f"INSERT INTO {extras} (id, v) VALUES (%s, 0)", (f"e{i}",))
            cur.execute(f"UPDATE {items} SET v = 1 WHERE id = 'k0'")
        conn.commit()
        with conn.cursor() as cur:
            cur.execute(f"UPDATE {items} SET v = 2 WHERE id = 'k0'")
        conn.commit()
        conn.autocommit = True
        records = scratch.records(until=lambda r: len(r) >= 12)

    first_xid = min(r.value["source"]["txId"] for r in records)
    first = [r for r in records if r.value["source"]["txId"] == first_xid]
    assert len(first) == 11 and len({r.value["transaction"]["id"] for r in first}) == 1
    ordered = sorted(first, key=lambda r: r.value["transaction"]["total_order"])
    assert [r.value["transaction"]["total_order"] for r in ordered] == list(range(1, 12))
    expected = [(items, "c", "k0"), (extras, "c", "e0"), (items, "c", "k1"), (extras, "c", "e1"),
                (items, "c", "k2"), (extras, "c", "e2"), (items, "c", "k3"), (extras, "c", "e3"),
                (items, "c", "k4"), (extras, "c", "e4"), (items, "u", "k0")]
    assert [(r.value["source"]["table"], r.op, r.row["id"]) for r in ordered] == expected
    per_table = defaultdict(list)
    for r in ordered:
        per_table[r.value["source"]["table"]].append(r.value["transaction"]["data_collection_order"])
    assert per_table[items] == [1, 2, 3, 4, 5, 6] and per_table[extras] == [1, 2, 3, 4, 5]
    # the second transaction comes after the first (commit order), and per key in offset order
    k0 = [r for r in records if r.key == f"public.{items}:k0"]
    assert [r.row["v"] for r in sorted(k0, key=lambda r: r.offset)] == [0, 1, 2]
    assert k0[-1].value["source"]["txId"] > k0[0].value["source"]["txId"]


def test_snapshot_then_stream_has_no_gap_and_no_overlap(scratch: Scratch, settings: Settings) -> None:
    items = scratch.tables[0]
    scratch.sql(f"INSERT INTO {items} (id, v) SELECT 'pre' || i, 0 FROM generate_series(1, 300) i")
    writer = Writer(settings, items, rate_tx=100, batch=6)
    writer.versions = {f"pre{i}": 0 for i in range(1, 301)}
    writer.committed = {(f"pre{i}", 0) for i in range(1, 301)}
    writer.start()  # writes continue while the slot is created and the snapshot is read
    wait_until(lambda: writer.transactions > 20, 20, "write load")
    with relay_thread(scratch.config(), settings) as relay:
        wait_until(lambda: writer.transactions > 100, 30, "writes after the snapshot")
        writer.finish()
        wait_caught_up(scratch)
        assert relay.metrics.snapshot_rows > 300
    records = scratch.records(settle=2.0)  # all acknowledged already: read to the end

    versions: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        versions[r.row["id"]].append((r.op, r.row["v"]))
    assert sum(1 for r in records if r.op == "r") == relay.metrics.snapshot_rows
    assert [r for r in records if r.value["source"]["snapshot"] == "last"] != []
    for key, seen in versions.items():
        ops = [op for op, _ in seen]
        vs = [v for _, v in seen]
        # a row is either read by the snapshot or created by the stream, never both
        assert ops[0] in ("r", "c") and ops.count("r") + ops.count("c") == 1, (key, seen)
        # then every later version exactly once, in order: no gap, no overlap
        assert vs == list(range(vs[0], vs[0] + len(vs))), (key, seen)
    table = dict(scratch.sql(f"SELECT id, v FROM {items}"))
    assert table == writer.versions
    assert {k: vs[-1][1] for k, vs in versions.items()} == table  # Kafka's last value per key = the table
    # every committed version from the one the snapshot saw (or the insert) onwards is in Kafka
    expected = {(k, v) for k, v in writer.committed if v >= versions[k][0][1]}
    assert {(k, v) for k, vs in versions.items() for _, v in vs} == expected


def test_new_column_is_carried_without_a_restart(scratch: Scratch, settings: Settings) -> None:
    items = scratch.tables[0]
    with relay_thread(scratch.config(snapshot=False), settings) as relay:
        scratch.sql(f"INSERT INTO {items} (id) VALUES ('before')")
        scratch.sql(f"ALTER TABLE {items} ADD COLUMN loyalty_tier text")
        scratch.sql(f"INSERT INTO {items} (id, loyalty_tier) VALUES ('after', 'gold')")
        records = scratch.records(until=lambda r: len(r) >= 2)
        assert relay.metrics.state == "streaming"
    by_id = {r.row["id"]: r.value["after"] for r in records}  # two keys: two partitions, any order
    assert "loyalty_tier" not in by_id["before"]
    assert by_id["after"]["loyalty_tier"] == "gold"


def test_restart_resumes_from_the_slot(scratch: Scratch, settings: Settings) -> None:
    items = scratch.tables[0]
    scratch.sql(f"INSERT INTO {items} (id) VALUES ('s1')")
    with relay_thread(scratch.config(), settings) as first:
        scratch.sql(f"INSERT INTO {items} (id) VALUES ('live1')")
        scratch.records(until=lambda r: len(r) >= 2)
    assert first.sink.producer._closed.is_set()  # graceful stop flushed and closed the producer
    scratch.sql(f"INSERT INTO {items} (id) VALUES ('while-down')")  # written while no relay runs
    with relay_thread(scratch.config(), settings) as relay:
        scratch.sql(f"INSERT INTO {items} (id) VALUES ('live2')")
        records = scratch.records(until=lambda r: len(r) >= 4, settle=1.0)
        assert relay.metrics.snapshot_rows == 0  # no second snapshot
    records.sort(key=lambda r: r.value["source"]["lsn"])  # four keys, four partitions: order by WAL position
    assert [(r.op, r.row["id"]) for r in records] == [("r", "s1"), ("c", "live1"), ("c", "while-down"), ("c", "live2")]


def test_quiet_database_keeps_the_slot_moving(scratch: Scratch, settings: Settings) -> None:
    """Writes to tables outside the publication still advance the slot (keepalives; no WAL pile-up)."""
    other = f"cdct_{scratch.tag}_unpublished"
    scratch.sql(f"CREATE TABLE {other} (id serial PRIMARY KEY, pad text)")
    try:
        with relay_thread(scratch.config(snapshot=False, heartbeat_s=0), settings):
            scratch.sql(f"INSERT INTO {other} (pad) SELECT repeat('x', 500) FROM generate_series(1, 2000)")
            wait_caught_up(scratch, timeout=30)  # nothing published changed: keepalives alone move it
        assert scratch.records() == []
    finally:
        scratch.sql(f"DROP TABLE {other}")


def test_heartbeats_measure_end_to_end_lag(scratch: Scratch, settings: Settings) -> None:
    with relay_thread(scratch.config(snapshot=False, heartbeat_s=0.2), settings) as relay:
        wait_until(lambda: relay.metrics.heartbeat_lag_ms is not None, 20, "a heartbeat to come back")
        assert relay.metrics.heartbeats_sent >= 1
        assert 0 <= relay.metrics.heartbeat_lag_ms < 5000  # type: ignore[operator]
        text = relay.metrics.prometheus()
    assert f'cdc_heartbeat_lag_ms{{slot="{scratch.slot}"}}' in text and "cdc_lag_bytes" in text


def test_large_transaction_streams_with_bounded_inflight(scratch: Scratch, settings: Settings) -> None:
    items = scratch.tables[0]
    with relay_thread(scratch.config(snapshot=False, max_inflight=2000), settings) as relay:
        peak = [0]
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], relay.sink.inflight.records)
                stop.wait(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        scratch.sql(f"INSERT INTO {items} (id, v) SELECT 'big' || i, i FROM generate_series(1, 30000) i")
        wait_caught_up(scratch)
        stop.set()
        watcher.join()
    records = scratch.records(until=lambda r: len(r) >= 30000)
    assert len(records) == 30000 and len({r.value["source"]["txId"] for r in records}) == 1
    assert peak[0] <= 2000 + 2000  # max_inflight + one read batch


def test_a_tiny_producer_queue_loses_and_reorders_nothing(scratch: Scratch, settings: Settings) -> None:
    """The producer's queue holds 500 records: the snapshot and the stream keep finding it full (records
    wait in the sink, reading pauses) and still deliver every change once, each key's in order."""
    items = scratch.tables[0]
    scratch.sql(f"INSERT INTO {items} (id, v) SELECT 'pre' || i, 0 FROM generate_series(1, 3000) i")
    sinks: list[EnvelopeSink] = []

    def sink_factory(inflight: InFlight) -> EnvelopeSink:
        sinks.append(EnvelopeSink(settings, inflight, topic="topic_cdc_changes", kafka_topic=scratch.topic,
                                  producer_overrides={"queue.buffering.max.messages": 500}))
        return sinks[-1]

    with relay_thread(scratch.config(), settings, sink_factory=sink_factory):
        for v in (1, 2, 3):
            scratch.sql(f"UPDATE {items} SET v = {v}")  # 3 x 3000 changes in three transactions
        wait_caught_up(scratch)
    assert len(sinks) == 1 and sinks[0].queue_full > 0 and sinks[0].producer.failed == 0
    records = scratch.records(until=lambda r: len(r) >= 12000, settle=1.0)
    assert len(records) == 12000
    versions: dict[str, list[int]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        versions[r.key].append(r.row["v"])
    assert len(versions) == 3000 and all(v == [0, 1, 2, 3] for v in versions.values())


def test_changes_of_a_table_dropped_meanwhile_do_not_stop_the_relay(scratch: Scratch, settings: Settings) -> None:
    items, extras = scratch.tables
    with relay_thread(scratch.config(snapshot=False), settings):
        pass
    scratch.sql(f"INSERT INTO {extras} (id, v) VALUES ('gone', 1)")  # written while the relay is down ...
    scratch.sql(f"DROP TABLE {extras}")  # ... then the table is dropped before it reads them
    with relay_thread(scratch.config(snapshot=False, tables=(items,)), settings) as relay:
        scratch.sql(f"INSERT INTO {items} (id, v) VALUES ('after', 2)")
        records = scratch.records(until=lambda r: len(r) >= 2)
        assert relay.metrics.state == "streaming"
    by_table = {r.value["source"]["table"]: r for r in records}
    assert by_table[extras].row["id"] == "gone" and by_table[extras].key.startswith(f"public.{extras}:gone")
    assert by_table[items].key == f"public.{items}:after"
