"""Builders of pgoutput protocol messages, for decoder tests (the inverse of lambdas/cdc/pgoutput.py).

Written from the protocol documentation, independently of the decoder, so a test compares two
readings of the spec; the integration tests check the decoder against a real server's bytes.
"""

from __future__ import annotations

import struct

NULL, UNCHANGED = object(), object()


def cstr(text: str) -> bytes:
    return text.encode() + b"\x00"


def tuple_data(values: list[object]) -> bytes:
    out = struct.pack(">H", len(values))
    for v in values:
        if v is NULL or v is None:
            out += b"n"
        elif v is UNCHANGED:
            out += b"u"
        else:
            raw = str(v).encode()
            out += b"t" + struct.pack(">I", len(raw)) + raw
    return out


def begin(final_lsn: int, commit_ts: int, xid: int) -> bytes:
    return b"B" + struct.pack(">QqI", final_lsn, commit_ts, xid)


def commit(commit_lsn: int, end_lsn: int, commit_ts: int) -> bytes:
    return b"C" + struct.pack(">BQQq", 0, commit_lsn, end_lsn, commit_ts)


def relation(oid: int, ns: str, name: str, columns: list[tuple[str, int]], replident: str = "f", key: int = 1) -> bytes:
    out = b"R" + struct.pack(">I", oid) + cstr(ns) + cstr(name) + replident.encode() + struct.pack(">H", len(columns))
    for name_, type_oid in columns:
        out += bytes([key]) + cstr(name_) + struct.pack(">Ii", type_oid, -1)
    return out


def insert(oid: int, values: list[object]) -> bytes:
    return b"I" + struct.pack(">I", oid) + b"N" + tuple_data(values)


def update(oid: int, new: list[object], old: list[object] | None = None, old_kind: str = "O") -> bytes:
    out = b"U" + struct.pack(">I", oid)
    if old is not None:
        out += old_kind.encode() + tuple_data(old)
    return out + b"N" + tuple_data(new)


def delete(oid: int, old: list[object], old_kind: str = "O") -> bytes:
    return b"D" + struct.pack(">I", oid) + old_kind.encode() + tuple_data(old)


def truncate(oids: list[int], options: int = 0) -> bytes:
    return b"T" + struct.pack(">IB", len(oids), options) + b"".join(struct.pack(">I", o) for o in oids)


def message(lsn: int, prefix: str, content: bytes, transactional: bool = False) -> bytes:
    head = b"M" + struct.pack(">BQ", 1 if transactional else 0, lsn) + cstr(prefix)
    return head + struct.pack(">I", len(content)) + content


def xlogdata(data_start: int, payload: bytes, wal_end: int = 0) -> bytes:
    return b"w" + struct.pack(">QQq", data_start, wal_end or data_start, 0) + payload


def keepalive(wal_end: int, reply: bool = False) -> bytes:
    return b"k" + struct.pack(">Qq?", wal_end, 0, reply)
