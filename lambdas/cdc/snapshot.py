"""The initial snapshot: every existing row as an ``op = r`` record, consistent with the slot.

The slot is created with ``EXPORT_SNAPSHOT``; a normal connection imports that snapshot
(``SET TRANSACTION SNAPSHOT`` in a REPEATABLE READ, READ ONLY transaction) and reads the tables as of
the slot's consistent point. Streaming then starts at that point: a change committed before it is in
the snapshot, one committed after it is in the stream — no gap, no overlap.

Rows are read through a server-side cursor (bounded memory) in primary-key order, each column cast to
text so the values go through the same converters as the stream's. The very last record carries
``source.snapshot = "last"``, the others ``"true"`` (Debezium's values).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg2.extensions
from psycopg2 import sql

from lambdas.cdc.database import Database, Table
from lambdas.cdc.envelope import Change, EnvelopeBuilder, KeySpec

Send = Callable[[Change], None]


def take_snapshot(
    db: Database,
    snapshot_name: str,
    tables: list[Table],
    builder: EnvelopeBuilder,
    send: Send,
    *,
    lsn: int,
    batch: int = 5000,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Emit every row of ``tables`` as seen by ``snapshot_name``; returns the number of rows."""
    conn = db.connect(autocommit=False)
    try:
        conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
        ts_ms = int(time.time() * 1000)
        pending: tuple[Table, KeySpec, dict[str, Any]] | None = None
        rows = 0
        for index, table in enumerate(tables):
            key = KeySpec(table.namespace, table.name, table.primary_key)
            names = [c for c, _ in table.columns]
            convs = table.converters()
            query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in names),
                sql.Identifier(table.namespace, table.name),
                sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key),
            )
            with conn.cursor(name=f"cdc_snapshot_{index}") as cur:
                cur.itersize = batch
                cur.execute(query)
                for raw in cur:
                    row = {
                        n: v if v is None or c is None else c(v) for n, c, v in zip(names, convs, raw, strict=True)
                    }
                    if pending is not None:
                        send(_read(builder, pending, lsn, ts_ms, last=False))
                    pending = (table, key, row)
                    rows += 1
                    if progress is not None and rows % 50_000 == 0:
                        progress(table.qualified, rows)
        if pending is not None:
            send(_read(builder, pending, lsn, ts_ms, last=True))
        conn.rollback()
        return rows
    finally:
        conn.close()


def _read(
    builder: EnvelopeBuilder, pending: tuple[Table, KeySpec, dict[str, Any]], lsn: int, ts_ms: int, last: bool
) -> Change:
    table, key, row = pending
    return builder.snapshot_read(table.namespace, table.name, row, key=key, lsn=lsn, ts_ms=ts_ms, last=last)

