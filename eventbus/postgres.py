"""The CDC relay's DDL (its publication and its state table), shared by the AWS bootstrap (as the tables'
owner) and the CDC relay (locally, where it may create tables).

The publication's name and tables are catalog facts (``publication`` of ``topic_cdc_changes`` in
``schemas/topics.yaml``); this is the one place that turns them into SQL::

    >>> with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
    ...     ensure_publication(cur, "travel_cdc", ["public.users", "public.bookings"])
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: The relay's one row per slot: when its initial snapshot started and completed (lambdas/cdc/database.py). Not
#: published. In AWS the relay's login role may not create tables in schema public (PostgreSQL 15+), so the
#: bootstrap creates it as the master user and grants the role ``STATE_TABLE_PRIVILEGES``.
STATE_TABLE = "cdc_relay_state"
STATE_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ("
    " slot_name text PRIMARY KEY, publication text NOT NULL, snapshot_lsn pg_lsn,"
    " snapshot_started_at timestamptz, snapshot_completed_at timestamptz, snapshot_rows bigint,"
    " updated_at timestamptz NOT NULL DEFAULT now());"
    f" COMMENT ON TABLE {STATE_TABLE} IS 'CDC relay state (lambdas/cdc)'"
)
#: What the relay does with its state row.
STATE_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")


def ensure_publication(cur: Any, name: str, tables: Sequence[str]) -> bool:
    """Create publication ``name`` over the schema-qualified ``tables``, or add the ones it lacks.

    Returns whether anything changed. A ``FOR ALL TABLES`` publication is left as it is.
    """
    from psycopg2 import sql

    def idents(qualified: Sequence[str]) -> Any:
        return sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in qualified)

    cur.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (name,))
    row = cur.fetchone()
    if row is None:
        cur.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), idents(tables)))
        return True
    if row[0]:
        return False
    cur.execute("SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s", (name,))
    present = {r[0] for r in cur.fetchall()}
    missing = [t for t in tables if t not in present]
    if missing:
        cur.execute(sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(sql.Identifier(name), idents(missing)))
    return bool(missing)
