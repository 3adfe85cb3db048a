"""The pgoutput decoder and the type conversions, on protocol bytes (no database)."""

from __future__ import annotations

import math

import pytest

from lambdas.cdc import pgoutput as pg
from lambdas.cdc.exceptions import ProtocolError
from lambdas.cdc.types import BOOL, BYTEA, DATE, FLOAT8, INT4, INT8, NUMERIC, TIMESTAMP, TIMESTAMPTZ, convert
from tests.unit import test_cdc_wire as w

TEXT = 25
COLS = [("id", TEXT), ("n", INT4), ("amount", NUMERIC), ("ok", BOOL), ("at", TIMESTAMPTZ), ("day", DATE)]


@pytest.fixture
def dec() -> pg.Decoder:
    d = pg.Decoder()
    rel = d.decode(w.relation(16400, "public", "items", COLS))
    assert isinstance(rel, pg.Relation)
    return d


def test_begin_and_commit_fields() -> None:
    d = pg.Decoder()
    b = d.decode(w.begin(final_lsn=0x1_0000_0010, commit_ts=1_000_000, xid=4242))
    assert isinstance(b, pg.Begin)
    assert (b.final_lsn, b.commit_ts, b.xid) == (0x1_0000_0010, 1_000_000, 4242)
    c = d.decode(w.commit(commit_lsn=0x10, end_lsn=0x48, commit_ts=2_000_000))
    assert isinstance(c, pg.Commit)
    assert (c.commit_lsn, c.end_lsn, c.commit_ts) == (0x10, 0x48, 2_000_000)
    assert pg.pg_ts_to_ms(1_000_000) == 946_684_801_000


def test_relation_columns_and_identity() -> None:
    d = pg.Decoder()
    rel = d.decode(w.relation(7, "", "pg_thing", [("a", TEXT), ("b", INT8)], replident="d", key=0))
    assert isinstance(rel, pg.Relation)
    assert rel.qualified_name == "pg_catalog.pg_thing"  # empty namespace means pg_catalog
    assert rel.names == ("a", "b")
    assert [c.type_oid for c in rel.columns] == [TEXT, INT8]
    assert rel.replident == "d" and not rel.columns[0].in_identity
    assert d.relations[7] is rel


def test_insert_typed_values(dec: pg.Decoder) -> None:
    msg = dec.decode(w.insert(16400, ["BK-1", 3, "1234.50", "t", "2024-05-01 10:00:00.123456+00", "2024-05-01"]))
    assert isinstance(msg, pg.Insert)
    assert msg.relation.name == "items"
    assert msg.new == {
        "id": "BK-1",
        "n": 3,
        "amount": "1234.50",
        "ok": True,
        "at": "2024-05-01T10:00:00.123456Z",
        "day": "2024-05-01",
    }


def test_nulls_and_unicode(dec: pg.Decoder) -> None:
    msg = dec.decode(w.insert(16400, ["Hà Nội ✈", None, None, None, None, None]))
    assert isinstance(msg, pg.Insert)
    assert msg.new["id"] == "Hà Nội ✈"
    assert msg.new["n"] is None and msg.new["at"] is None


def test_update_with_before_image(dec: pg.Decoder) -> None:
    old = ["BK-1", 3, "1.00", "f", "2024-05-01 10:00:00+00", "2024-05-01"]
    new = ["BK-1", 4, "2.00", "t", "2024-05-01 11:00:00+00", "2024-05-02"]
    msg = dec.decode(w.update(16400, new, old, "O"))
    assert isinstance(msg, pg.Update)
    assert msg.old_kind == "O" and msg.old is not None
    assert msg.old["n"] == 3 and msg.new["n"] == 4
    assert msg.old["ok"] is False and msg.new["ok"] is True
    assert not msg.toasted


def test_update_without_old_tuple(dec: pg.Decoder) -> None:
    msg = dec.decode(w.update(16400, ["BK-1", 1, "1", "t", None, None]))
    assert isinstance(msg, pg.Update)
    assert msg.old is None and msg.old_kind is None


def test_update_marks_unchanged_toast(dec: pg.Decoder) -> None:
    msg = dec.decode(w.update(16400, ["BK-1", 1, w.UNCHANGED, "t", None, None]))
    assert isinstance(msg, pg.Update)
    assert msg.toasted and msg.new["amount"] is pg.UNCHANGED_TOAST
    # the flag does not leak into the next update
    nxt = dec.decode(w.update(16400, ["BK-1", 1, "3", "t", None, None]))
    assert isinstance(nxt, pg.Update) and not nxt.toasted


def test_delete_key_and_full(dec: pg.Decoder) -> None:
    msg = dec.decode(w.delete(16400, ["BK-9", None, None, None, None, None], "K"))
    assert isinstance(msg, pg.Delete)
    assert msg.old_kind == "K" and msg.old["id"] == "BK-9"


def test_truncate_options(dec: pg.Decoder) -> None:
    dec.decode(w.relation(16401, "public", "other", [("id", TEXT)]))
    msg = dec.decode(w.truncate([16400, 16401], options=3))
    assert isinstance(msg, pg.Truncate)
    assert [r.name for r in msg.relations] == ["items", "other"]
    assert msg.cascade and msg.restart_identity


def test_logical_message() -> None:
    msg = pg.Decoder().decode(w.message(0x99, "travel-cdc-heartbeat", b"slot:123", transactional=False))
    assert isinstance(msg, pg.LogicalMessage)
    assert (msg.transactional, msg.lsn, msg.prefix, msg.content) == (False, 0x99, "travel-cdc-heartbeat", b"slot:123")


def test_new_column_is_carried_after_relation_update(dec: pg.Decoder) -> None:
    dec.decode(w.relation(16400, "public", "items", [*COLS, ("note", TEXT)]))
    msg = dec.decode(w.insert(16400, ["BK-2", 1, "1", "t", None, None, "hello"]))
    assert isinstance(msg, pg.Insert)
    assert msg.new["note"] == "hello"


def test_decode_at_offset_inside_xlogdata(dec: pg.Decoder) -> None:
    frame = w.xlogdata(0x500, w.insert(16400, ["BK-3", 1, "1", "t", None, None]))
    msg = dec.decode(frame, 25)
    assert isinstance(msg, pg.Insert) and msg.new["id"] == "BK-3"


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b"", "empty"),
        (b"Z\x00", "unsupported pgoutput message type 'Z'"),
        (b"S\x00\x00\x00\x01\x01", "streamed in-progress transactions"),
        (b"I\x00\x00\x99\x99N\x00\x00", "before its Relation message"),
        (b"B\x00\x01", "malformed pgoutput 'B'"),
    ],
)
def test_bad_input_is_a_protocol_error(payload: bytes, needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle):
        pg.Decoder().decode(payload)


def test_tuple_wider_than_relation_is_rejected(dec: pg.Decoder) -> None:
    with pytest.raises(ProtocolError, match="tuple has 7 columns"):
        dec.decode(w.insert(16400, ["a", 1, "1", "t", None, None, "extra"]))


def test_lsn_text_round_trip() -> None:
    assert pg.format_lsn(0x1_016B_3748) == "1/16B3748"
    assert pg.parse_lsn("1/16B3748") == 0x1_016B_3748


@pytest.mark.parametrize(
    ("oid", "text", "expected"),
    [
        (INT8, "9223372036854775807", 9223372036854775807),
        (BOOL, "true", True),  # snapshot path (::text)
        (BOOL, "f", False),
        (FLOAT8, "1.5", 1.5),
        (TIMESTAMPTZ, "2024-05-01 10:00:00+00", "2024-05-01T10:00:00Z"),
        (TIMESTAMPTZ, "2024-05-01 17:00:00+07", "2024-05-01T17:00:00+07:00"),
        (TIMESTAMPTZ, "2024-05-01 15:30:00+05:30", "2024-05-01T15:30:00+05:30"),
        (TIMESTAMPTZ, "infinity", "infinity"),
        (TIMESTAMPTZ, "0044-03-15 12:00:00+00 BC", "0044-03-15 12:00:00+00 BC"),
        (TIMESTAMP, "2024-05-01 10:00:00.5", "2024-05-01T10:00:00.5"),
        (BYTEA, "\\xdeadbeef", "deadbeef"),
        (NUMERIC, "NaN", "NaN"),
        (TEXT, "plain", "plain"),
        (INT4, None, None),
    ],
)
def test_type_conversion(oid: int, text: str | None, expected: object) -> None:
    assert convert(oid, text) == expected


def test_float_specials() -> None:
    assert math.isnan(convert(FLOAT8, "NaN"))
    assert convert(FLOAT8, "-Infinity") == -math.inf
