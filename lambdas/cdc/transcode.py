"""The hot path: pgoutput Insert/Update/Delete bytes -> (key, Glue-framed Avro envelope) in one pass.

Row values arrive as text; for most columns the Avro string is those very bytes, so they are
copied, not decoded and re-encoded, and no Python dict is built. The result is byte-for-byte what
``envelope.py`` + the shared serde's encoder produce for the same message (unit tests compare them).
The wire primitives are the shared ones (``eventbus.avro_wire``); what is here is the envelope's layout.

Anything unusual returns ``None`` and the caller takes the general path (decoder + envelope
builder): unchanged TOAST values ('u', filled from the before image), binary values, an update
that changes the primary key (delete + create), composite or non-text/integer primary keys,
tuples whose width differs from the relation.
"""

from __future__ import annotations

import struct
import time

from eventbus.avro_wire import DOUBLE, LENGTHS, L, S
from lambdas.cdc import CONNECTOR, __version__
from lambdas.cdc.envelope import KeySpec, TxContext
from lambdas.cdc.pgoutput import Relation
from lambdas.cdc.types import BOOL, TIMESTAMPTZ, Converter, converter_for

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
# union branches of a row value ["null", "boolean", "long", "double", "string"] and of ["null", X]
V_NULL, V_BOOLEAN, V_LONG, V_DOUBLE, V_STRING = L(0), L(1), L(2), L(3), L(4)
SOME, NONE = L(1), L(0)
_T, _N, _K, _O, _NEW = ord("t"), ord("n"), ord("K"), ord("O"), ord("N")
K_TEXT, K_LONG, K_BOOL, K_DOUBLE, K_TSTZ, K_CONVERT = 0, 1, 2, 3, 4, 5
_KINDS = {BOOL: K_BOOL, TIMESTAMPTZ: K_TSTZ}
# Derived from the converter, not listed by type: every type ``types.py`` turns into a number is written
# as one here (xid and cid too), so both paths agree on each type the general path converts.
_BY_CONVERTER: dict[Converter, int] = {int: K_LONG, float: K_DOUBLE}
_UTC = b"+00"
OP_C, OP_U, OP_D = S("c"), S("u"), S("d")
Encoded = tuple[bytes, bytes]  # (key, value)


class RelationCodec:
    """Per-table constants: each column's map-entry prefix by value kind, the key, the source block."""

    __slots__ = ("convs", "count", "fast", "key_prefix", "kinds", "ncols", "nulls", "oid", "pk", "prefixes", "src_mid")

    def __init__(self, rel: Relation, key: KeySpec, database: str) -> None:
        self.oid = rel.oid
        self.ncols = len(rel.columns)
        self.count = L(self.ncols)
        kinds, prefixes, nulls, convs = [], [], [], []
        for col in rel.columns:
            conv = converter_for(col.type_oid)
            kind = _KINDS.get(col.type_oid, K_TEXT if conv is None else _BY_CONVERTER.get(conv, K_CONVERT))
            name = S(col.name)
            kinds.append(kind)
            convs.append(conv)
            nulls.append(name + V_NULL)
            prefixes.append(name + {K_LONG: V_LONG, K_BOOL: V_BOOLEAN, K_DOUBLE: V_DOUBLE}.get(kind, V_STRING))
        self.kinds, self.prefixes, self.nulls, self.convs = tuple(kinds), tuple(prefixes), tuple(nulls), tuple(convs)
        self.pk = rel.names.index(key.single) if key.single is not None and key.single in rel.names else -1
        # the key is the primary key's text: exact for text-like and integer keys only
        self.fast = self.pk >= 0 and self.kinds[self.pk] in (K_TEXT, K_LONG)
        self.key_prefix = key.prefix.encode()
        self.src_mid = S("false") + S(database) + S(rel.namespace) + S(rel.name)


class Transcoder:
    def __init__(self, header: bytes, server_name: str, database: str) -> None:
        self.header = header
        self.database = database
        self.src_head = S(__version__) + S(CONNECTOR) + S(server_name)
        self.codecs: dict[int, RelationCodec] = {}
        self.clock = time.time  # tests pin it
        self._now = (0, L(0))  # (ms, L(ms)): one encoding per millisecond

    def relation(self, rel: Relation) -> None:
        """A Relation message arrived (new table or new shape): rebuild its codec."""
        self.codecs[rel.oid] = RelationCodec(rel, rel.key, self.database)

    # -- messages (buf[pos] is the message type byte) -----------------------------------------------
    def insert(self, buf: bytes, pos: int, tx: TxContext, lsn: int) -> Encoded | None:
        codec = self.codecs.get(_U32(buf, pos + 1)[0])
        if codec is None or not codec.fast or buf[pos + 5] != _NEW:
            return None
        parts = [self.header, NONE]
        end, key = self._tuple(buf, pos + 6, codec, parts)
        if end < 0:
            return None
        return codec.key_prefix + key, self._finish(parts, codec, tx, lsn, OP_C)

    def update(self, buf: bytes, pos: int, tx: TxContext, lsn: int) -> Encoded | None:
        codec = self.codecs.get(_U32(buf, pos + 1)[0])
        if codec is None or not codec.fast:
            return None
        pos += 5
        parts = [self.header]
        kind = buf[pos]
        old_key = None
        if kind == _O:
            pos, old_key = self._tuple(buf, pos + 1, codec, parts)
            if pos < 0:
                return None
            kind = buf[pos]
        elif kind == _K:
            return None  # the key changed (default identity): general path
        else:
            parts.append(NONE)
        if kind != _NEW:
            return None
        end, key = self._tuple(buf, pos + 1, codec, parts)
        if end < 0 or (old_key is not None and old_key != key):
            return None
        return codec.key_prefix + key, self._finish(parts, codec, tx, lsn, OP_U)

    def delete(self, buf: bytes, pos: int, tx: TxContext, lsn: int) -> Encoded | None:
        codec = self.codecs.get(_U32(buf, pos + 1)[0])
        if codec is None or not codec.fast or buf[pos + 5] not in (_K, _O):
            return None
        parts = [self.header]
        end, key = self._tuple(buf, pos + 6, codec, parts)
        if end < 0:
            return None
        parts.append(NONE)
        return codec.key_prefix + key, self._finish(parts, codec, tx, lsn, OP_D)

    # -- internals ----------------------------------------------------------------------------------
    @staticmethod
    def _tuple(buf: bytes, pos: int, codec: RelationCodec, parts: list[bytes]) -> tuple[int, bytes]:
        """Append ``["null", map]`` branch 1 of one tuple; returns (end, primary key text) or (-1, b"")."""
        (ncols,) = _U16(buf, pos)
        if ncols != codec.ncols:
            return -1, b""
        pos += 2
        append, u32, lengths = parts.append, _U32, LENGTHS
        append(SOME)
        append(codec.count)
        kinds, prefixes, nulls, pk = codec.kinds, codec.prefixes, codec.nulls, codec.pk
        key = b""
        for i in range(ncols):
            kind = buf[pos]
            if kind == _T:
                (n,) = u32(buf, pos + 1)
                start = pos + 5
                pos = start + n
                k = kinds[i]
                if k == K_TEXT:
                    append(prefixes[i])
                    append(lengths[n] if n < 16384 else L(n))
                    append(buf[start:pos])
                elif k == K_TSTZ and n >= 22 and buf[pos - 3 : pos] == _UTC and buf[start + 4] == 45:
                    # "2024-05-01 10:00:00.5+00" -> "2024-05-01T10:00:00.5Z" (the common case, in bytes)
                    append(prefixes[i])
                    append(lengths[n - 2])
                    append(buf[start : start + 10] + b"T" + buf[start + 11 : pos - 3] + b"Z")
                elif k == K_LONG:
                    append(prefixes[i] + L(int(buf[start:pos])))
                elif k == K_BOOL:
                    append(prefixes[i] + (b"\x01" if buf[start] == _T else b"\x00"))
                elif k == K_DOUBLE:
                    append(prefixes[i] + DOUBLE(float(buf[start:pos])))
                else:
                    raw = codec.convs[i](buf[start:pos].decode()).encode()  # type: ignore[misc]
                    append(prefixes[i])
                    append(lengths[len(raw)] if len(raw) < 16384 else L(len(raw)))
                    append(raw)
                if i == pk:
                    key = buf[start:pos]
            elif kind == _N:
                append(nulls[i])
                pos += 1
            else:
                return -1, b""  # 'u' (unchanged TOAST) or 'b' (binary): general path
        append(b"\x00")
        return pos, key

    def _finish(self, parts: list[bytes], codec: RelationCodec, tx: TxContext, lsn: int, op: bytes) -> bytes:
        wire = tx.wire
        if wire is None:
            wire = tx.wire = (L(tx.commit_ms), SOME + L(tx.xid), SOME + S(tx.id))
        total = tx.total = tx.total + 1
        n = tx.per_table.get(codec.oid, 0) + 1
        tx.per_table[codec.oid] = n
        ms = int(self.clock() * 1000)
        if ms != self._now[0]:
            self._now = (ms, L(ms))
        parts += (
            self.src_head, wire[0], codec.src_mid, wire[1], SOME, L(lsn), NONE, op, SOME, self._now[1], wire[2],
            LENGTHS[total] if total < 16384 else L(total), LENGTHS[n] if n < 16384 else L(n),
        )
        return b"".join(parts)
