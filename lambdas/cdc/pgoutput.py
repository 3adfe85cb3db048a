"""A decoder for PostgreSQL's pgoutput logical replication protocol (version 1, text tuples).

Pure: bytes in, message objects out, no I/O. The relay feeds it the payload of every XLogData
message; Relation messages update the decoder's column lists, so a column added with
``ALTER TABLE`` simply appears in the next row.

Wire format (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html)::

    B  final_lsn:u64 commit_ts:i64 xid:u32                     begin
    C  flags:u8 commit_lsn:u64 end_lsn:u64 commit_ts:i64         commit
    R  oid:u32 ns:str name:str replident:u8 ncols:u16 {flags:u8 name:str type:u32 typmod:i32}
    I  oid:u32 'N' tuple                                         insert
    U  oid:u32 ['K'|'O' tuple] 'N' tuple                         update
    D  oid:u32 ('K'|'O') tuple                                   delete
    T  nrels:u32 options:u8 oid:u32...                           truncate
    M  flags:u8 lsn:u64 prefix:str len:u32 bytes                 logical message
    tuple = ncols:u16 {'n' | 'u' | 't' len:u32 bytes | 'b' len:u32 bytes}

Timestamps are microseconds since 2000-01-01 UTC.

    >>> dec = Decoder()
    >>> msg = dec.decode(payload)          # Begin | Commit | Relation | Insert | ...
"""

from __future__ import annotations

import struct
from typing import Any

from lambdas.cdc.exceptions import ProtocolError
from lambdas.cdc.types import Converter, converter_for

PG_EPOCH_MS = 946_684_800_000  # 2000-01-01T00:00:00Z in Unix milliseconds

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I32 = struct.Struct(">i").unpack_from
_BEGIN = struct.Struct(">QqI").unpack_from
_COMMIT = struct.Struct(">BQQq").unpack_from
_MSG_HEAD = struct.Struct(">BQ").unpack_from
_COLUMN_TAIL = struct.Struct(">Ii").unpack_from

_T, _N, _U, _B = ord("t"), ord("n"), ord("u"), ord("b")
_K, _O, _NEW = ord("K"), ord("O"), ord("N")


class _Unchanged:
    """A TOASTed value the update did not change; pgoutput does not resend it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Any = _Unchanged()


def pg_ts_to_ms(pg_micros: int) -> int:
    """PostgreSQL timestamp (µs since 2000-01-01) -> Unix epoch milliseconds."""
    return pg_micros // 1000 + PG_EPOCH_MS


def format_lsn(lsn: int) -> str:
    """``0x16B3748`` -> ``'0/16B3748'`` (PostgreSQL's notation)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


# --- messages ------------------------------------------------------------------------------------
class Begin:
    __slots__ = ("commit_ts", "final_lsn", "xid")

    def __init__(self, final_lsn: int, commit_ts: int, xid: int) -> None:
        self.final_lsn, self.commit_ts, self.xid = final_lsn, commit_ts, xid


class Commit:
    __slots__ = ("commit_lsn", "commit_ts", "end_lsn")

    def __init__(self, commit_lsn: int, end_lsn: int, commit_ts: int) -> None:
        self.commit_lsn, self.end_lsn, self.commit_ts = commit_lsn, end_lsn, commit_ts


class Column:
    __slots__ = ("flags", "name", "type_modifier", "type_oid")

    def __init__(self, name: str, type_oid: int, type_modifier: int, flags: int) -> None:
        self.name, self.type_oid, self.type_modifier, self.flags = name, type_oid, type_modifier, flags

    @property
    def in_identity(self) -> bool:
        """Part of the replica identity (with REPLICA IDENTITY FULL every column is)."""
        return bool(self.flags & 1)


class Relation:
    """A table's shape as of this point in the stream. ``key`` is set by the relay (primary key)."""

    __slots__ = ("columns", "converters", "key", "name", "names", "namespace", "oid", "replident")

    def __init__(self, oid: int, namespace: str, name: str, replident: str, columns: tuple[Column, ...]) -> None:
        self.oid, self.namespace, self.name, self.replident = oid, namespace or "pg_catalog", name, replident
        self.columns = columns
        self.names: tuple[str, ...] = tuple(c.name for c in columns)
        self.converters: tuple[Converter | None, ...] = tuple(converter_for(c.type_oid) for c in columns)
        self.key: Any = None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"


class Insert:
    __slots__ = ("new", "relation")

    def __init__(self, relation: Relation, new: dict[str, Any]) -> None:
        self.relation, self.new = relation, new


class Update:
    """``old`` is the before image ('O', REPLICA IDENTITY FULL), the old key ('K', key changed) or None.

    ``toasted`` is true when ``new`` holds ``UNCHANGED_TOAST`` placeholders (large values the update
    did not touch, which pgoutput does not resend).
    """

    __slots__ = ("new", "old", "old_kind", "relation", "toasted")

    def __init__(
        self, relation: Relation, old: dict[str, Any] | None, old_kind: str | None, new: dict[str, Any], toasted: bool
    ) -> None:
        self.relation, self.old, self.old_kind, self.new, self.toasted = relation, old, old_kind, new, toasted


class Delete:
    __slots__ = ("old", "old_kind", "relation")

    def __init__(self, relation: Relation, old: dict[str, Any], old_kind: str) -> None:
        self.relation, self.old, self.old_kind = relation, old, old_kind


class Truncate:
    __slots__ = ("cascade", "relations", "restart_identity")

    def __init__(self, relations: list[Relation], cascade: bool, restart_identity: bool) -> None:
        self.relations, self.cascade, self.restart_identity = relations, cascade, restart_identity


class LogicalMessage:
    """``pg_logical_emit_message`` output (needs the ``messages 'true'`` option)."""

    __slots__ = ("content", "lsn", "prefix", "transactional")

    def __init__(self, transactional: bool, lsn: int, prefix: str, content: bytes) -> None:
        self.transactional, self.lsn, self.prefix, self.content = transactional, lsn, prefix, content


class Origin:
    __slots__ = ("lsn", "name")

    def __init__(self, lsn: int, name: str) -> None:
        self.lsn, self.name = lsn, name


class TypeInfo:
    __slots__ = ("name", "namespace", "oid")

    def __init__(self, oid: int, namespace: str, name: str) -> None:
        self.oid, self.namespace, self.name = oid, namespace, name


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | LogicalMessage | Origin | TypeInfo


# --- decoder ---------------------------------------------------------------------------------------
def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(0, pos)
    return buf[pos:end].decode(), end + 1


class Decoder:
    """Stateful only in the relations it has seen (Relation messages precede a table's first row)."""

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}
        self._toasted = False
        self._dispatch = {
            ord("I"): self._insert,
            ord("U"): self._update,
            ord("D"): self._delete,
            ord("B"): self._begin,
            ord("C"): self._commit,
            ord("R"): self._relation,
            ord("T"): self._truncate,
            ord("M"): self._message,
            ord("O"): self._origin,
            ord("Y"): self._type,
        }

    def decode(self, buf: bytes, pos: int = 0) -> Message:
        """Decode one pgoutput message starting at ``buf[pos]``."""
        if pos >= len(buf):
            raise ProtocolError("empty pgoutput message")
        handler = self._dispatch.get(buf[pos])
        if handler is None:
            kind = chr(buf[pos])
            hint = " (streamed in-progress transactions are not enabled by this relay)" if kind in "SEcAPK" else ""
            raise ProtocolError(f"unsupported pgoutput message type {kind!r}{hint}")
        try:
            return handler(buf, pos + 1)  # type: ignore[return-value]
        except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"malformed pgoutput {chr(buf[pos])!r} message: {exc}") from exc

    # -- tuples (the hot path) --
    def _tuple(self, buf: bytes, pos: int, rel: Relation) -> tuple[dict[str, Any], int]:
        (ncols,) = _U16(buf, pos)
        pos += 2
        names, convs = rel.names, rel.converters
        if ncols > len(names):
            raise ProtocolError(f"{rel.qualified_name}: tuple has {ncols} columns, relation has {len(names)}")
        row: dict[str, Any] = {}
        for i in range(ncols):
            kind = buf[pos]
            if kind == _T:
                (length,) = _U32(buf, pos + 1)
                pos += 5
                text = buf[pos : pos + length].decode()
                pos += length
                conv = convs[i]
                row[names[i]] = text if conv is None else conv(text)
            elif kind == _N:
                pos += 1
                row[names[i]] = None
            elif kind == _U:
                pos += 1
                row[names[i]] = UNCHANGED_TOAST
                self._toasted = True
            elif kind == _B:
                (length,) = _U32(buf, pos + 1)
                pos += 5
                row[names[i]] = buf[pos : pos + length].hex()
                pos += length
            else:
                raise ProtocolError(f"{rel.qualified_name}: unknown tuple column kind {chr(kind)!r}")
        return row, pos

    def _rel(self, oid: int) -> Relation:
        rel = self.relations.get(oid)
        if rel is None:
            raise ProtocolError(f"row for relation oid {oid} before its Relation message")
        return rel

    def _insert(self, buf: bytes, pos: int) -> Insert:
        (oid,) = _U32(buf, pos)
        rel = self._rel(oid)
        if buf[pos + 4] != _NEW:
            raise ProtocolError(f"insert into {rel.qualified_name}: expected 'N', got {chr(buf[pos + 4])!r}")
        new, _ = self._tuple(buf, pos + 5, rel)
        return Insert(rel, new)

    def _update(self, buf: bytes, pos: int) -> Update:
        (oid,) = _U32(buf, pos)
        rel = self._rel(oid)
        pos += 4
        old: dict[str, Any] | None = None
        old_kind: str | None = None
        kind = buf[pos]
        if kind in (_K, _O):
            old_kind = chr(kind)
            old, pos = self._tuple(buf, pos + 1, rel)
            kind = buf[pos]
        if kind != _NEW:
            raise ProtocolError(f"update of {rel.qualified_name}: expected 'N', got {chr(kind)!r}")
        self._toasted = False
        new, _ = self._tuple(buf, pos + 1, rel)
        return Update(rel, old, old_kind, new, self._toasted)

    def _delete(self, buf: bytes, pos: int) -> Delete:
        (oid,) = _U32(buf, pos)
        rel = self._rel(oid)
        kind = buf[pos + 4]
        if kind != _K and kind != _O:
            raise ProtocolError(f"delete from {rel.qualified_name}: expected 'K' or 'O', got {chr(kind)!r}")
        old, _ = self._tuple(buf, pos + 5, rel)
        return Delete(rel, old, chr(kind))

    # -- transaction framing --
    @staticmethod
    def _begin(buf: bytes, pos: int) -> Begin:
        final_lsn, commit_ts, xid = _BEGIN(buf, pos)
        return Begin(final_lsn, commit_ts, xid)

    @staticmethod
    def _commit(buf: bytes, pos: int) -> Commit:
        _flags, commit_lsn, end_lsn, commit_ts = _COMMIT(buf, pos)
        return Commit(commit_lsn, end_lsn, commit_ts)

    # -- schema --
    def _relation(self, buf: bytes, pos: int) -> Relation:
        (oid,) = _U32(buf, pos)
        namespace, pos = _cstring(buf, pos + 4)
        name, pos = _cstring(buf, pos)
        replident = chr(buf[pos])
        (ncols,) = _U16(buf, pos + 1)
        pos += 3
        columns = []
        for _ in range(ncols):
            flags = buf[pos]
            col_name, pos = _cstring(buf, pos + 1)
            type_oid, typmod = _COLUMN_TAIL(buf, pos)
            pos += 8
            columns.append(Column(col_name, type_oid, typmod, flags))
        rel = Relation(oid, namespace, name, replident, tuple(columns))
        self.relations[oid] = rel
        return rel

    def _truncate(self, buf: bytes, pos: int) -> Truncate:
        (nrels,) = _U32(buf, pos)
        options = buf[pos + 4]
        pos += 5
        rels = [self._rel(_U32(buf, pos + 4 * i)[0]) for i in range(nrels)]
        return Truncate(rels, cascade=bool(options & 1), restart_identity=bool(options & 2))

    @staticmethod
    def _message(buf: bytes, pos: int) -> LogicalMessage:
        flags, lsn = _MSG_HEAD(buf, pos)
        prefix, pos = _cstring(buf, pos + 9)
        (length,) = _U32(buf, pos)
        content = buf[pos + 4 : pos + 4 + length]
        return LogicalMessage(bool(flags & 1), lsn, prefix, content)

    @staticmethod
    def _origin(buf: bytes, pos: int) -> Origin:
        (lsn,) = struct.unpack_from(">Q", buf, pos)
        name, _ = _cstring(buf, pos + 8)
        return Origin(lsn, name)

    @staticmethod
    def _type(buf: bytes, pos: int) -> TypeInfo:
        (oid,) = _U32(buf, pos)
        namespace, pos = _cstring(buf, pos + 4)
        name, _ = _cstring(buf, pos)
        return TypeInfo(oid, namespace, name)
