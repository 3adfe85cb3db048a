"""The shared encoder (what the relay's sink runs for envelopes) and the one-pass transcoder produce
fastavro's exact bytes."""

from __future__ import annotations

import io
import json
import random
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pytest

from eventbus.avro_wire import L as zigzag
from eventbus.exceptions import SchemaValidationError
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.cdc import envelope as envelope_module
from lambdas.cdc.envelope import EnvelopeBuilder, KeySpec
from lambdas.cdc.pgoutput import Decoder, Relation
from lambdas.cdc.transcode import Transcoder
from lambdas.cdc.types import (
    _CONVERTERS,
    BOOL,
    BYTEA,
    CID,
    DATE,
    FLOAT4,
    FLOAT8,
    INT2,
    INT4,
    INT8,
    NUMERIC,
    OID,
    TIMESTAMP,
    TIMESTAMPTZ,
    TIMETZ,
    XID,
)
from tests.unit import test_cdc_wire as w

SCHEMA = fastavro.parse_schema(json.loads((Path(__file__).parents[2] / "schemas" / "cdc_change.avsc").read_text()))
TEXT = 25
HEADER = b"\x03\x00" + bytes(range(16))
NOW_MS = 1_767_225_600_123


class _FixedRegistry:
    """Registers nothing: every schema has the version id of ``HEADER``."""

    def register(self, name: str, text: str) -> uuid.UUID:
        return uuid.UUID(bytes=HEADER[2:])


_ENCODE = AvroSerde(Settings(profile="local"), registry=_FixedRegistry()).encoder("topic_cdc_changes")  # type: ignore[arg-type]


def encode_envelope(record: dict[str, Any]) -> bytes:
    """The Avro body the relay's sink writes for an envelope (the shared serde's encoder, header off)."""
    return _ENCODE(record)[len(HEADER):]


def fastavro_bytes(record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, SCHEMA, record)
    return buf.getvalue()


def random_value(rng: random.Random) -> Any:
    return rng.choice([
        None, True, False, 0, -1, 63, 64, -65, 2**40, -(2**62), 2**63 - 1, -(2**63), 2**63,  # 2**63 -> double
        1.5, -0.0, float("inf"), rng.random() * 1e9,
        "", "BK-000123", "Hà Nội ✈ Đà Nẵng", "x" * 70, "y" * 20000, "2024-05-01T10:00:00Z",
    ])


def random_record(rng: random.Random) -> dict[str, Any]:
    def row() -> dict[str, Any] | None:
        if rng.random() < 0.2:
            return None
        return {f"c{i}_{'é' * (i % 2)}": random_value(rng) for i in range(rng.randint(0, 15))}

    return {
        "before": row(),
        "after": row(),
        "source": {
            "version": "0.1.0", "connector": "postgresql", "name": rng.choice(["travel", "x" * 100]),
            "ts_ms": rng.randint(0, 2**45), "snapshot": rng.choice(["true", "last", "false"]), "db": "travel",
            "schema": "public", "table": "bookings", "txId": rng.choice([None, 0, 123456, 2**40]),
            "lsn": rng.choice([None, 0, 2**36 + 5]), "xmin": None,
        },
        "op": rng.choice("cudrt"),
        "ts_ms": rng.choice([None, NOW_MS]),
        "transaction": rng.choice([None, {"id": "571:53736280", "total_order": rng.randint(1, 10**6),
                                          "data_collection_order": rng.randint(1, 500)}]),
    }


def test_zigzag_matches_the_avro_spec() -> None:
    assert [zigzag(n) for n in (0, -1, 1, -2, 2, 63, 64, -64, -65)] == [
        b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x7e", b"\x80\x01", b"\x7f", b"\x81\x01"]
    assert zigzag(2**63 - 1) == b"\xfe" + b"\xff" * 8 + b"\x01"


def test_envelope_writer_equals_fastavro_on_generated_records() -> None:
    rng = random.Random(20240501)
    for _ in range(2000):
        record = random_record(rng)
        assert encode_envelope(record) == fastavro_bytes(record), record


def test_envelope_writer_rejects_what_the_schema_cannot_hold() -> None:
    record = random_record(random.Random(1))
    record["after"] = {"when": object()}
    with pytest.raises(SchemaValidationError, match="field 'after'"):
        encode_envelope(record)


def test_serde_decodes_what_the_relay_writes(settings: Settings) -> None:
    serde = AvroSerde(settings)
    record = random_record(random.Random(7))
    value = serde.header("topic_cdc_changes") + encode_envelope(record)
    assert serde.decode(value) == serde.decode(serde.encode("topic_cdc_changes", record))


# --- transcoder vs decoder + envelope builder ---------------------------------------------------
COLS = [("id", TEXT), ("n", INT4), ("small", INT2), ("big", INT8), ("amount", NUMERIC), ("ok", BOOL),
        ("ratio", FLOAT8), ("at", TIMESTAMPTZ), ("local", TIMESTAMP), ("day", DATE), ("blob", BYTEA),
        ("note", TEXT)]


def random_text_row(rng: random.Random, key: str) -> list[Any]:
    def maybe(v: Any) -> Any:
        return None if rng.random() < 0.2 else v

    return [key, maybe(rng.randint(-(2**31), 2**31 - 1)), maybe(rng.randint(-300, 300)),
            maybe(rng.randint(-(2**63), 2**63 - 1)), maybe(f"{rng.randint(0, 10**9)}.{rng.randint(0, 99):02d}"),
            maybe(rng.choice("tf")), maybe(rng.choice(["1.5", "-2.25e-05", "NaN", "Infinity", "3"])),
            maybe(rng.choice(["2024-05-01 10:00:00.123456+00", "2024-05-01 17:00:00+07", "infinity"])),
            maybe("2024-05-01 10:00:00"), maybe("2024-05-01"), maybe("\\xdeadbeef"),
            maybe(rng.choice(["", "Hà Nội ✈", "z" * 17000]))]


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope_module.time, "time", lambda: NOW_MS / 1000)


def _both_paths(frames: list[bytes], pk: tuple[str, ...] = ("id",),
                cols: list[tuple[str, int]] = COLS) -> tuple[list[Any], list[Any]]:
    """(transcoder outputs, general-path outputs) for the row frames after one Begin."""
    dec, builder = Decoder(), EnvelopeBuilder("travel", "travel")
    tc = Transcoder(HEADER, "travel", "travel")
    tc.clock = lambda: NOW_MS / 1000
    rel = dec.decode(w.relation(16400, "public", "items", cols))
    assert isinstance(rel, Relation)
    rel.key = KeySpec("public", "items", pk)
    tc.relation(rel)
    fast_tx = builder.begin(dec.decode(w.begin(0x5000, 700_000_000_000_000, 777)))  # type: ignore[arg-type]
    slow_tx = builder.begin(dec.decode(w.begin(0x5000, 700_000_000_000_000, 777)))  # type: ignore[arg-type]
    fast, slow = [], []
    for lsn, frame in enumerate(frames, start=0x4000):
        method = {ord("I"): tc.insert, ord("U"): tc.update, ord("D"): tc.delete}[frame[0]]
        fast.append(method(frame, 0, fast_tx, lsn))
        msg = dec.decode(frame)
        changes = getattr(builder, type(msg).__name__.lower())(slow_tx, msg, lsn)
        slow.append([(k.encode(), HEADER + encode_envelope(r), h) for k, r, h in changes])
    return fast, slow


def test_transcoder_equals_the_general_path(pinned_clock: None) -> None:
    rng = random.Random(42)
    frames = []
    for i in range(300):
        key = f"BK-{i}"
        old, new = random_text_row(rng, key), random_text_row(rng, key)
        frames += [w.insert(16400, new), w.update(16400, new, old, "O"), w.update(16400, new),
                   w.delete(16400, old, "O"), w.delete(16400, [key] + [None] * (len(COLS) - 1), "K")]
    fast, slow = _both_paths(frames)
    for f, s in zip(fast, slow, strict=True):
        assert f is not None
        assert [(f[0], f[1], None)] == s


# A text form of every type the general path converts (types.py); the test below fails when one is missing.
CONVERTED_SAMPLES = {
    BOOL: "t", BYTEA: "\\xdeadbeef", INT2: "-7", INT4: "123456", INT8: "-9000000000", OID: "16400", XID: "742",
    CID: "3", FLOAT4: "1.5", FLOAT8: "-2.25e-05", TIMESTAMPTZ: "2024-05-01 10:00:00.5+00",
    TIMESTAMP: "2024-05-01 10:00:00", TIMETZ: "10:00:00+00",
}


@pytest.mark.parametrize("type_oid", sorted(CONVERTED_SAMPLES))
def test_every_converted_type_is_written_alike_by_both_paths(type_oid: int, pinned_clock: None) -> None:
    """A published xid/cid column once crashed the transcoder (int(...).encode()) on every change."""
    assert set(CONVERTED_SAMPLES) == set(_CONVERTERS), "a converted type without a sample here"
    cols = [("id", INT8), ("x", type_oid)]
    text = CONVERTED_SAMPLES[type_oid]
    row: list[object] = [1, text]
    fast, slow = _both_paths([w.insert(16400, row), w.update(16400, row, row, "O"), w.delete(16400, row, "O")],
                             cols=cols)
    for f, s in zip(fast, slow, strict=True):
        assert f is not None and [(f[0], f[1], None)] == s
    if type_oid in (XID, CID):
        assert decode_value(slow[0][0][1])["after"] == {"id": 1, "x": int(text)}  # a long, as the general path


def decode_value(framed: bytes) -> dict[str, Any]:
    return fastavro.schemaless_reader(io.BytesIO(framed[len(HEADER):]), SCHEMA)  # type: ignore[return-value]


@pytest.mark.parametrize(
    "frame",
    [
        w.update(16400, ["BK-1", w.UNCHANGED, *[None] * 10], ["BK-1", *[None] * 11], "O"),  # unchanged TOAST
        w.update(16400, ["BK-2", *[None] * 11], ["BK-1", *[None] * 11], "O"),  # primary key changed
        w.update(16400, ["BK-2", *[None] * 11], ["BK-1", *[None] * 11], "K"),  # key change, default identity
        w.insert(16400, ["BK-1", *[None] * 10]),  # narrower tuple than the relation
        w.insert(16401, ["BK-1", *[None] * 11]),  # unknown relation
    ],
)
def test_unusual_changes_take_the_general_path(frame: bytes) -> None:
    tc = Transcoder(HEADER, "travel", "travel")
    dec = Decoder()
    rel = dec.decode(w.relation(16400, "public", "items", COLS))
    assert isinstance(rel, Relation)
    rel.key = KeySpec("public", "items", ("id",))
    tc.relation(rel)
    tx = EnvelopeBuilder("travel", "travel").begin(dec.decode(w.begin(1, 1, 1)))  # type: ignore[arg-type]
    method = {ord("I"): tc.insert, ord("U"): tc.update, ord("D"): tc.delete}[frame[0]]
    assert method(frame, 0, tx, 9) is None
    assert tx.total == 0  # nothing counted: the general path numbers the record


def test_composite_key_takes_the_general_path(pinned_clock: None) -> None:
    fast, slow = _both_paths([w.insert(16400, random_text_row(random.Random(3), "k"))], pk=("id", "n"))
    assert fast == [None] and len(slow[0]) == 1
