"""Avro binary body of the CDCChange envelope (schemas/cdc_change.avsc), without the generic writer.

fastavro spends most of a CDC record's time resolving the ``[null, boolean, long, double, string]``
union of every row value (≈17 µs for a 13-column row, ≈40 µs for an update). The envelope's schema
is fixed, so this module writes it directly: same bytes as ``fastavro.schemaless_writer`` (unit tests
compare the two on generated records), about 4x faster. The Glue wire-format header still comes
from the shared serde (``AvroSerde.header``), which registers the schema.

    >>> body = encode_envelope(record)          # == fastavro.schemaless_writer(buf, schema, record)
    >>> value = serde.header("topic_cdc_changes") + body
"""

from __future__ import annotations

import struct
from typing import Any

_DOUBLE = struct.Struct("<d").pack
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1

# union branch indexes of a row value, zigzag-encoded: null 0, boolean 1, long 2, double 3, string 4
NULL, BOOLEAN, LONG, DOUBLE, STRING = b"\x00", b"\x02", b"\x04", b"\x06", b"\x08"
SOME = b"\x02"  # branch 1 of ["null", X]
NONE = b"\x00"


def zigzag(n: int) -> bytes:
    """Avro ``long``: zigzag, then base-128 little-endian varint."""
    n = (n << 1) ^ (n >> 63)
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]
# lengths of strings (zigzag(n) for n >= 0), the most frequent varint of all
LENGTHS = [zigzag(i) if i >= 64 else bytes((i << 1,)) for i in range(16384)]


def length(n: int) -> bytes:
    return LENGTHS[n] if n < 16384 else zigzag(n)


def string(text: str) -> bytes:
    raw = text.encode()
    return length(len(raw)) + raw


def row_value(value: Any) -> bytes:
    """One value of a row map, with its union branch."""
    kind = type(value)
    if kind is str:
        raw = value.encode()
        return STRING + length(len(raw)) + raw
    if value is None:
        return NULL
    if kind is bool:
        return BOOLEAN + (b"\x01" if value else b"\x00")
    if kind is int:
        if LONG_MIN <= value <= LONG_MAX:
            return LONG + zigzag(value)
        return DOUBLE + _DOUBLE(float(value))
    if kind is float:
        return DOUBLE + _DOUBLE(value)
    raise TypeError(f"row value {value!r} ({kind.__name__}) is not null/boolean/long/double/string")


def row_map(row: dict[str, Any] | None) -> bytes:
    """``["null", map<...>]`` of a row."""
    if row is None:
        return NONE
    if not row:
        return SOME + b"\x00"
    parts = [SOME, zigzag(len(row))]
    for key, value in row.items():
        parts.append(string(key))
        parts.append(row_value(value))
    parts.append(b"\x00")
    return b"".join(parts)


def optional_long(value: int | None) -> bytes:
    return NONE if value is None else SOME + zigzag(value)


def source_block(src: dict[str, Any]) -> bytes:
    return b"".join(
        (
            string(src["version"]), string(src["connector"]), string(src["name"]), zigzag(src["ts_ms"]),
            string(src["snapshot"]), string(src["db"]), string(src["schema"]), string(src["table"]),
            optional_long(src["txId"]), optional_long(src["lsn"]), optional_long(src["xmin"]),
        )
    )


def encode_envelope(record: dict[str, Any]) -> bytes:
    """The Avro body of one CDCChange record (dict form, as ``envelope.py`` builds it)."""
    tx = record.get("transaction")
    return b"".join(
        (
            row_map(record.get("before")),
            row_map(record.get("after")),
            source_block(record["source"]),
            string(record["op"]),
            optional_long(record.get("ts_ms")),
            NONE if tx is None else SOME + string(tx["id"]) + zigzag(tx["total_order"])
            + zigzag(tx["data_collection_order"]),
        )
    )
