"""The replication stream (CopyBoth) of a psycopg2 ``LogicalReplicationConnection``, read through libpq.

psycopg2 starts replication; reading and feedback go straight to libpq (the very library psycopg2
loaded, called through ``ctypes`` on ``connection.pgconn_ptr``). Why not ``cursor.read_message()``:
psycopg2 silently moves the flush position to a keepalive's ``wal_end`` once the client has
confirmed the data start of the last message it received (psycopg2 PR #913). pgoutput messages do
not carry increasing positions (a transaction's Begin/changes sit *before* the previous commit when
transactions interleave; Relation messages carry 0), so that shortcut can confirm a transaction
whose records Kafka has not acknowledged yet, and a crash would then lose it. Here the flush
position sent is exactly the one the relay computed — nothing else.

Messages (https://www.postgresql.org/docs/15/protocol-replication.html)::

    w  data_start:u64 wal_end:u64 send_time:i64 payload...     XLogData (payload at offset 25)
    k  wal_end:u64 send_time:i64 reply_requested:u8             primary keepalive
    r  write:u64 flush:u64 apply:u64 client_time:i64 reply:u8   standby status update (we send)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import select
import struct
import time
from typing import Any

from lambdas.cdc.exceptions import SetupError

PAYLOAD_OFFSET = 25
_FEEDBACK = struct.Struct(">cQQQqB")
_PG_EPOCH_US = 946_684_800_000_000


class StreamClosed(Exception):
    """The server ended the stream (error text from PostgreSQL)."""


def _find_libpq() -> ctypes.CDLL:
    import psycopg2._psycopg  # noqa: F401  (ensure psycopg2's libpq is mapped)

    path = None
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                if "libpq" in line and ".so" in line:
                    path = line.split()[-1]
                    break
    except OSError:
        pass
    path = path or ctypes.util.find_library("pq")
    if not path:
        raise SetupError("cannot locate libpq (the library psycopg2 uses) — install psycopg2-binary")
    lib = ctypes.CDLL(path)
    lib.PQgetCopyData.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    lib.PQgetCopyData.restype = ctypes.c_int
    lib.PQfreemem.argtypes = [ctypes.c_void_p]
    lib.PQfreemem.restype = None
    lib.PQconsumeInput.argtypes = [ctypes.c_void_p]
    lib.PQconsumeInput.restype = ctypes.c_int
    lib.PQputCopyData.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.PQputCopyData.restype = ctypes.c_int
    lib.PQflush.argtypes = [ctypes.c_void_p]
    lib.PQflush.restype = ctypes.c_int
    lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
    lib.PQerrorMessage.restype = ctypes.c_char_p
    lib.PQgetResult.argtypes = [ctypes.c_void_p]
    lib.PQgetResult.restype = ctypes.c_void_p
    lib.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
    lib.PQresultErrorMessage.restype = ctypes.c_char_p
    lib.PQclear.argtypes = [ctypes.c_void_p]
    lib.PQclear.restype = None
    return lib


_LIBPQ: ctypes.CDLL | None = None


def libpq() -> ctypes.CDLL:
    global _LIBPQ
    if _LIBPQ is None:
        _LIBPQ = _find_libpq()
    return _LIBPQ


class WalStream:
    """Raw CopyBoth messages of a replication connection on which ``start_replication`` was called."""

    def __init__(self, connection: Any) -> None:
        self._lib = libpq()
        self._conn = ctypes.c_void_p(connection.pgconn_ptr)
        self._buf = ctypes.c_void_p()
        self.fd = connection.fileno()
        self.last_feedback = 0.0

    def read(self) -> bytes | None:
        """The next message (``b'w...'`` or ``b'k...'``), or ``None`` when none is buffered."""
        lib, conn, buf = self._lib, self._conn, self._buf
        n = lib.PQgetCopyData(conn, ctypes.byref(buf), 1)
        if n == 0:
            if not lib.PQconsumeInput(conn):
                raise StreamClosed(self._error())
            n = lib.PQgetCopyData(conn, ctypes.byref(buf), 1)
            if n == 0:
                return None
        if n > 0:
            data = ctypes.string_at(buf, n)
            lib.PQfreemem(buf)
            return data
        raise StreamClosed(self._result_error() if n == -1 else self._error())

    def wait(self, timeout: float) -> bool:
        """Block until the socket is readable or ``timeout`` seconds pass."""
        readable, _, _ = select.select([self.fd], [], [], timeout)
        return bool(readable)

    def send_feedback(self, write_lsn: int, flush_lsn: int, reply: bool = False) -> None:
        """Standby status update: ``flush_lsn`` becomes the slot's confirmed_flush_lsn."""
        now_us = int(time.time() * 1_000_000) - _PG_EPOCH_US
        msg = _FEEDBACK.pack(b"r", write_lsn, flush_lsn, flush_lsn, now_us, 1 if reply else 0)
        if self._lib.PQputCopyData(self._conn, msg, len(msg)) != 1 or self._lib.PQflush(self._conn) != 0:
            raise StreamClosed(self._error())
        self.last_feedback = time.monotonic()

    def _error(self) -> str:
        raw = self._lib.PQerrorMessage(self._conn) or b""
        return raw.decode(errors="replace").strip() or "replication connection lost"

    def _result_error(self) -> str:
        message = ""
        while True:
            res = self._lib.PQgetResult(self._conn)
            if not res:
                break
            raw = self._lib.PQresultErrorMessage(res) or b""
            message = message or raw.decode(errors="replace").strip()
            self._lib.PQclear(res)
        return message or "the server ended the replication stream"
