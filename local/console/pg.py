"""PostgreSQL reads of the console: an entity's OLTP rows, the CDC slot's lag, Airflow's latest runs.

Every query runs with a connect timeout and a statement timeout of the console's deadline.
"""

from __future__ import annotations

import datetime
import decimal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventbus.settings import Settings
from local.console.exceptions import DependencyError


@contextmanager
def connect(settings: Settings, timeout_s: float, database: str | None = None) -> Iterator[Any]:
    import psycopg2

    ms = int(timeout_s * 1000)
    kwargs: dict[str, Any] = {"connect_timeout": max(1, int(timeout_s)), "options": f"-c statement_timeout={ms}",
                              "application_name": "eventbus-console"}
    if database:
        kwargs["dbname"] = database
    try:
        conn = psycopg2.connect(settings.pg_dsn(), **kwargs)
    except psycopg2.Error as exc:
        where = f"{settings.pg_host}:{settings.pg_port}/{database or settings.pg_database}"
        hint = " — run `make local-up`" if settings.pg_host.startswith(("127.", "localhost")) else ""
        raise DependencyError(f"PostgreSQL at {where} unreachable{hint}: {str(exc).strip().splitlines()[0]}") from exc
    try:
        conn.set_session(readonly=True, autocommit=True)
        yield conn
    finally:
        conn.close()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, datetime.date | decimal.Decimal):
        return str(value)
    return value


def query(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [c.name for c in cur.description]
        return [{c: _plain(v) for c, v in zip(cols, row, strict=True)} for row in cur.fetchall()]


#: The OLTP rows of an entity (schemas/sql/oltp.sql): each query takes the id once per placeholder. SQL must
#: name its tables: tests/unit/test_console_catalog.py checks them against the catalog's CDC publication
#: tables and oltp.sql's columns. Primary keys are read from PostgreSQL (``primary_keys``), not listed here.
ROW_QUERIES: dict[str, list[tuple[str, str]]] = {
    "user_id": [
        ("users", "SELECT * FROM users WHERE user_id = %s"),
        ("bookings", "SELECT * FROM bookings WHERE user_id = %s ORDER BY updated_at DESC LIMIT 50"),
        ("payments", "SELECT p.* FROM payments p JOIN bookings b USING (booking_id) WHERE b.user_id = %s "
                     "ORDER BY p.updated_at DESC LIMIT 50"),
    ],
    "session_id": [
        ("bookings", "SELECT * FROM bookings WHERE session_id = %s ORDER BY updated_at DESC LIMIT 50"),
        ("payments", "SELECT p.* FROM payments p JOIN bookings b USING (booking_id) WHERE b.session_id = %s "
                     "ORDER BY p.updated_at DESC LIMIT 50"),
    ],
    "booking_id": [
        ("bookings", "SELECT * FROM bookings WHERE booking_id = %s"),
        ("users", "SELECT u.* FROM users u JOIN bookings b USING (user_id) WHERE b.booking_id = %s"),
        ("payments", "SELECT * FROM payments WHERE booking_id = %s ORDER BY updated_at DESC LIMIT 50"),
    ],
}


def primary_keys(conn: Any, tables: list[str]) -> dict[str, list[str]]:
    """Each table's primary-key columns, in key order, from PostgreSQL's system catalog (``pg_index``, one query)."""
    sql = ("SELECT c.relname AS tbl, a.attname AS col FROM pg_index i "
           "JOIN pg_class c ON c.oid = i.indrelid "
           "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
           "WHERE i.indisprimary AND c.relname = ANY(%s) AND pg_table_is_visible(c.oid) "
           "ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)")
    out: dict[str, list[str]] = {}
    for row in query(conn, sql, (sorted(set(tables)),)):
        out.setdefault(row["tbl"], []).append(row["col"])
    return out


def entity_rows(settings: Settings, kind: str, entity: str, timeout_s: float) -> list[dict[str, Any]]:
    """Timeline entries for the entity's current rows, stamped with the time they were read."""
    out = []
    with connect(settings, timeout_s) as conn:
        read_ms = int(time.time() * 1000)
        keys = primary_keys(conn, [table for table, _sql in ROW_QUERIES[kind]])
        for table, sql in ROW_QUERIES[kind]:
            for row in query(conn, sql, (entity,)):
                pk = ":".join(str(row.get(col)) for col in keys.get(table, []))
                status = row.get("status") or row.get("segment") or ""
                out.append({"time": read_ms, "source": f"postgres.{table}", "kind": "row", "key": f"{table}:{pk}",
                            "summary": f"row now: {table} {pk} {status}".strip(), "value": row})
    return out


def replication_slots(settings: Settings, timeout_s: float) -> list[dict[str, Any]]:
    """Every logical slot with its lag in bytes (server WAL position minus confirmed LSN)."""
    sql = (
        "SELECT slot_name, plugin, active, active_pid, confirmed_flush_lsn::text AS confirmed_lsn, "
        "pg_current_wal_lsn()::text AS server_lsn, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag_bytes, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained_bytes "
        "FROM pg_replication_slots WHERE slot_type = 'logical' ORDER BY slot_name"
    )
    with connect(settings, timeout_s) as conn:
        return query(conn, sql)


def airflow_runs(settings: Settings, database: str, timeout_s: float, limit: int = 20) -> list[dict[str, Any]]:
    """The latest DAG runs from Airflow's metadata database (table ``dag_run``)."""
    sql = ("SELECT dag_id, run_id, state, run_type, logical_date, start_date, end_date FROM dag_run "
           "ORDER BY start_date DESC NULLS LAST LIMIT %s")
    with connect(settings, timeout_s, database=database) as conn:
        return query(conn, sql, (limit,))
