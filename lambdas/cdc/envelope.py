"""Debezium envelopes (schemas/cdc_change.avsc) from decoded pgoutput changes.

One row change -> one record ``{before, after, source, op, ts_ms, transaction}``, keyed
``<schema>.<table>:<primary key>`` (composite keys joined with ``,``) so every change of a row lands on
one partition, in order. As in Debezium:

* an update that changes the primary key becomes a delete under the old key followed by a create
  under the new one (headers ``__debezium.newkey`` / ``__debezium.oldkey`` link them);
* a TOASTed value the update did not touch is taken from the before image (REPLICA IDENTITY FULL)
  or, without one, set to ``__debezium_unavailable_value`` — never emitted as garbage;
* a truncate is one ``op = t`` record per table, keyed ``<schema>.<table>``;
* ``transaction`` = ``{id: "<xid>:<final lsn>", total_order, data_collection_order}``.

No tombstones follow deletes: the topic is delete-policy, not compacted.

    >>> b = EnvelopeBuilder(server_name="travel", database="travel")
    >>> tx = b.begin(begin_msg)
    >>> [(key, record, headers)] = b.insert(tx, insert_msg, lsn=msg_lsn)
"""

from __future__ import annotations

import time
from typing import Any

from lambdas.cdc import CONNECTOR, __version__
from lambdas.cdc.pgoutput import UNCHANGED_TOAST, Begin, Delete, Insert, Relation, Update, pg_ts_to_ms

UNAVAILABLE = "__debezium_unavailable_value"
Change = tuple[str, dict[str, Any], list[tuple[str, bytes]] | None]


class KeySpec:
    """How to build a record key for one table: ``<schema>.<table>:<pk values>``."""

    __slots__ = ("columns", "prefix", "single")

    def __init__(self, namespace: str, table: str, columns: tuple[str, ...]) -> None:
        self.prefix = f"{namespace}.{table}:"
        self.columns = columns
        self.single = columns[0] if len(columns) == 1 else None

    def of(self, row: dict[str, Any]) -> str:
        if self.single is not None:
            return self.prefix + _text(row[self.single])
        return self.prefix + ",".join(_text(row[c]) for c in self.columns)


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


class TxContext:
    """Per-transaction envelope state: ids and the Debezium ordering counters."""

    __slots__ = ("commit_ms", "final_lsn", "id", "per_table", "total", "wire", "xid")

    def __init__(self, xid: int, final_lsn: int, commit_ms: int) -> None:
        self.xid, self.final_lsn, self.commit_ms = xid, final_lsn, commit_ms
        self.id = f"{xid}:{final_lsn}"
        self.total = 0
        self.per_table: dict[int, int] = {}
        self.wire: Any = None  # the transaction's encoded fields, cached by transcode.py


class EnvelopeBuilder:
    def __init__(self, server_name: str, database: str) -> None:
        self.server_name = server_name
        self.database = database

    # -- streaming --------------------------------------------------------------------------------
    @staticmethod
    def begin(msg: Begin) -> TxContext:
        return TxContext(msg.xid, msg.final_lsn, pg_ts_to_ms(msg.commit_ts))

    def _record(
        self, tx: TxContext, rel: Relation, op: str, before: Any, after: Any, lsn: int
    ) -> dict[str, Any]:
        tx.total += 1
        n = tx.per_table.get(rel.oid, 0) + 1
        tx.per_table[rel.oid] = n
        return {
            "before": before,
            "after": after,
            "source": {
                "version": __version__,
                "connector": CONNECTOR,
                "name": self.server_name,
                "ts_ms": tx.commit_ms,
                "snapshot": "false",
                "db": self.database,
                "schema": rel.namespace,
                "table": rel.name,
                "txId": tx.xid,
                "lsn": lsn,
                "xmin": None,
            },
            "op": op,
            "ts_ms": int(time.time() * 1000),
            "transaction": {"id": tx.id, "total_order": tx.total, "data_collection_order": n},
        }

    def insert(self, tx: TxContext, msg: Insert, lsn: int) -> list[Change]:
        rel = msg.relation
        return [(rel.key.of(msg.new), self._record(tx, rel, "c", None, msg.new, lsn), None)]

    def update(self, tx: TxContext, msg: Update, lsn: int) -> list[Change]:
        rel = msg.relation
        after = msg.new
        before = msg.old if msg.old_kind == "O" else None
        if msg.toasted:
            after = _fill_unchanged(after, before)
        key = rel.key.of(after)
        if msg.old is not None:
            old_key = rel.key.of(msg.old)
            if old_key != key:  # primary key changed: delete old row, create new one (Debezium does)
                return [
                    (old_key, self._record(tx, rel, "d", msg.old, None, lsn), [("__debezium.newkey", key.encode())]),
                    (key, self._record(tx, rel, "c", None, after, lsn), [("__debezium.oldkey", old_key.encode())]),
                ]
        return [(key, self._record(tx, rel, "u", before, after, lsn), None)]

    def delete(self, tx: TxContext, msg: Delete, lsn: int) -> list[Change]:
        rel = msg.relation
        return [(rel.key.of(msg.old), self._record(tx, rel, "d", msg.old, None, lsn), None)]

    def truncate(self, tx: TxContext, rel: Relation, lsn: int) -> Change:
        return (f"{rel.namespace}.{rel.name}", self._record(tx, rel, "t", None, None, lsn), None)

    # -- snapshot ---------------------------------------------------------------------------------
    def snapshot_read(
        self, namespace: str, table: str, row: dict[str, Any], *, key: KeySpec, lsn: int, ts_ms: int, last: bool
    ) -> Change:
        record = {
            "before": None,
            "after": row,
            "source": {
                "version": __version__,
                "connector": CONNECTOR,
                "name": self.server_name,
                "ts_ms": ts_ms,
                "snapshot": "last" if last else "true",
                "db": self.database,
                "schema": namespace,
                "table": table,
                "txId": None,
                "lsn": lsn,
                "xmin": None,
            },
            "op": "r",
            "ts_ms": int(time.time() * 1000),
            "transaction": None,
        }
        return (key.of(row), record, None)


def _fill_unchanged(after: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """Replace UNCHANGED_TOAST placeholders: same value as before, else Debezium's placeholder."""
    out = dict(after)
    for col, value in after.items():
        if value is UNCHANGED_TOAST:
            prior = before.get(col, UNCHANGED_TOAST) if before is not None else UNCHANGED_TOAST
            out[col] = UNAVAILABLE if prior is UNCHANGED_TOAST else prior
    return out
