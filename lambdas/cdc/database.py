"""The source database: connections, preflight checks, the publication, the slot and the relay's state row.

Every problem a user can fix is raised as ``SetupError`` with one line saying what to do; a database
that is merely unreachable is ``Unavailable`` (the relay retries).

The relay keeps one row per slot in ``cdc_relay_state`` (not published): when the initial snapshot
finished. Locally the relay creates the table; in AWS its login role may not create tables (PostgreSQL 15+
grants no CREATE on schema public), so the bootstrap creates it as the master user and grants the role
``STATE_TABLE_PRIVILEGES``. That is how it tells "first start" (no slot, no row: create the slot and
snapshot) from "the slot was dropped" (row, no slot: changes were lost — refuse and say how to
re-snapshot) and from "a snapshot was interrupted" (slot, row without completion: start over).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from eventbus.postgres import STATE_TABLE, STATE_TABLE_DDL, STATE_TABLE_PRIVILEGES, ensure_publication
from lambdas.cdc.exceptions import SetupError, Unavailable
from lambdas.cdc.pgoutput import parse_lsn
from lambdas.cdc.types import Converter, converter_for

SESSION_OPTIONS = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres"
_NAME = re.compile(r"^[a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class Table:
    oid: int
    namespace: str
    name: str
    replident: str  # d default, f full, i index, n nothing
    primary_key: tuple[str, ...]
    columns: tuple[tuple[str, int], ...]  # (name, type oid), published columns in order

    @property
    def qualified(self) -> str:
        return f"{self.namespace}.{self.name}"

    def converters(self) -> tuple[Converter | None, ...]:
        return tuple(converter_for(oid) for _, oid in self.columns)


def check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise SetupError(f"{kind} name {name!r} is invalid: use 1-63 characters from a-z, 0-9 and _")
    return name


def _explain(exc: psycopg2.Error, where: str, user: str) -> Exception:
    """Turn a psycopg2 connect/command error into SetupError (fixable) or Unavailable (transient)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low or "pam authentication" in low:
        return SetupError(
            f"PostgreSQL at {where} refused the login of {user!r}: {text} — check EB_PG_USER / EB_PG_PASSWORD "
            "(or the secret named by EB_PG_SECRET_ARN)"
        )
    if "must be superuser or replication role" in low or "permission denied to start wal sender" in low:
        return SetupError(
            f"user {user!r} may not stream the WAL: {text} — run `ALTER ROLE {user} REPLICATION;` "
            f"(Aurora/RDS: `GRANT rds_replication TO {user};`)"
        )
    if "does not exist" in low and ("database" in low or "role" in low):
        return SetupError(f"PostgreSQL at {where}: {text} — check EB_PG_DATABASE / EB_PG_USER")
    if "no pg_hba.conf entry" in low:
        return SetupError(f"PostgreSQL at {where}: {text} — allow replication connections for {user!r} in pg_hba.conf")
    hint = " — is the local stack up? (`make local-up`)" if where.startswith(("127.", "localhost")) else ""
    return Unavailable(f"PostgreSQL at {where} unreachable: {text}{hint}")


class Database:
    """Normal and replication connections to the source database."""

    def __init__(self, dsn: str | Callable[[], str], host: str, port: int, user: str, dbname: str) -> None:
        # a callable is asked on every connect: credentials rotated in Secrets Manager apply on reconnect
        self._dsn = dsn
        self.user, self.dbname = user, dbname
        self.where = f"{host}:{port}"

    @property
    def dsn(self) -> str:
        if not callable(self._dsn):
            return self._dsn
        try:
            return self._dsn()
        except Exception as exc:  # Secrets Manager (boto3) errors
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
            if code in ("AccessDeniedException", "ResourceNotFoundException", "DecryptionFailure"):
                raise SetupError(f"cannot read the database secret (EB_PG_SECRET_ARN): {exc}") from None
            raise Unavailable(f"cannot read the database secret (EB_PG_SECRET_ARN): {exc}") from None

    def connect(self, replication: bool = False, autocommit: bool = True) -> Any:
        kwargs: dict[str, Any] = {"options": SESSION_OPTIONS, "application_name": "travel-cdc-relay"}
        if replication:
            kwargs["connection_factory"] = psycopg2.extras.LogicalReplicationConnection
        try:
            conn = psycopg2.connect(self.dsn, **kwargs)
        except psycopg2.Error as exc:
            raise _explain(exc, self.where, self.user) from None
        if not replication:
            conn.autocommit = autocommit
        return conn

    # -- preflight --------------------------------------------------------------------------------
    def preflight(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("SHOW wal_level")
            (level,) = cur.fetchone()
            if level != "logical":
                raise SetupError(
                    f"PostgreSQL at {self.where} has wal_level={level}; logical decoding needs wal_level=logical — "
                    "set it in postgresql.conf and restart PostgreSQL (Aurora/RDS: rds.logical_replication = 1 in "
                    "the cluster parameter group, then reboot)"
                )
            cur.execute("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cur.fetchone()
            if row is not None and not row[0] and not _has_rds_replication(cur):
                raise SetupError(
                    f"user {self.user!r} lacks the REPLICATION attribute — run `ALTER ROLE {self.user} REPLICATION;` "
                    f"(Aurora/RDS: `GRANT rds_replication TO {self.user};`)"
                )

    # -- tables -----------------------------------------------------------------------------------
    def describe(self, conn: Any, name: str | int) -> Table:
        """A table by name (``bookings`` / ``public.bookings``) or oid, with its primary key and columns."""
        with conn.cursor() as cur:
            if isinstance(name, int):
                cur.execute(_DESCRIBE + "c.oid = %s", (name,))
            else:
                cur.execute(_DESCRIBE + "c.oid = to_regclass(%s)", (name,))
            row = cur.fetchone()
            if row is None:
                raise SetupError(f"table {name!r} does not exist in database {self.dbname!r} — check --tables")
            oid, namespace, relname, replident, kind = row
            if kind not in ("r", "p"):
                raise SetupError(
                    f"{namespace}.{relname} is not a table (relkind {kind!r}) — only tables can be published"
                )
            cur.execute(_PRIMARY_KEY, (oid,))
            pk = tuple(r[0] for r in cur.fetchall())
            cur.execute(_COLUMNS, (oid,))
            columns = tuple((r[0], r[1]) for r in cur.fetchall())
        if not pk:
            raise SetupError(
                f"table {namespace}.{relname} has no primary key; CDC keys every change by table + primary key — "
                f"add one (`ALTER TABLE {namespace}.{relname} ADD PRIMARY KEY (...)`) or leave it out of --tables"
            )
        return Table(oid, namespace, relname, replident, pk, columns)

    # -- publication ------------------------------------------------------------------------------
    def ensure_publication(self, conn: Any, publication: str, tables: list[Table]) -> list[Table]:
        """Create the publication over ``tables`` (or add missing ones); return every published table."""
        with conn.cursor() as cur:
            try:
                ensure_publication(cur, publication, [t.qualified for t in tables])
            except psycopg2.errors.DuplicateObject:
                pass  # another relay created it at the same moment
            except psycopg2.Error as exc:
                detail = (exc.pgerror or str(exc)).strip()
                raise SetupError(f"cannot create/alter publication {publication!r}: {detail}") from None
            cur.execute(
                "SELECT (quote_ident(schemaname) || '.' || quote_ident(tablename))::regclass::oid "
                "FROM pg_publication_tables WHERE pubname = %s",
                (publication,),
            )
            oids = [r[0] for r in cur.fetchall()]
        return [self.describe(conn, oid) for oid in oids]

    def drop_publication(self, conn: Any, publication: str) -> None:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(publication)))

    # -- slot -------------------------------------------------------------------------------------
    def slot(self, conn: Any, slot: str) -> dict[str, Any] | None:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT plugin, database, active_pid, confirmed_flush_lsn::text, restart_lsn::text, slot_type "
                "FROM pg_replication_slots WHERE slot_name = %s",
                (slot,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        plugin, database, active_pid, confirmed, restart, kind = row
        return {
            "plugin": plugin,
            "database": database,
            "active_pid": active_pid,
            "confirmed_flush_lsn": parse_lsn(confirmed) if confirmed else 0,
            "restart_lsn": parse_lsn(restart) if restart else 0,
            "type": kind,
        }

    @staticmethod
    def create_slot(repl_conn: Any, slot: str) -> tuple[int, str]:
        """Create a pgoutput slot exporting its snapshot; returns (consistent point, snapshot name).

        The snapshot stays importable until the replication connection runs its next command.
        """
        with repl_conn.cursor() as cur:
            try:
                cur.execute(f"CREATE_REPLICATION_SLOT {check_name('slot', slot)} LOGICAL pgoutput EXPORT_SNAPSHOT")
            except psycopg2.Error as exc:
                text = (exc.pgerror or str(exc)).strip()
                if "all replication slots are in use" in text:
                    raise SetupError(f"cannot create slot {slot!r}: {text} — raise max_replication_slots "
                                     "or drop an abandoned slot (SELECT pg_drop_replication_slot('name'))") from None
                raise SetupError(f"cannot create replication slot {slot!r}: {text}") from None
            _name, consistent_point, snapshot_name, _plugin = cur.fetchone()
        return parse_lsn(consistent_point), snapshot_name

    @staticmethod
    def drop_slot(conn: Any, slot: str) -> bool:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (slot,)
            )
            return cur.rowcount > 0

    # -- relay state ------------------------------------------------------------------------------
    def ensure_state_table(self, conn: Any) -> None:
        """Create the state table if it is missing, then check this user may read and write it.

        An existing table is left alone: CREATE ... IF NOT EXISTS checks the CREATE privilege on the schema
        before it looks for the table, and COMMENT needs the owner, neither of which the AWS login role has.
        """
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (STATE_TABLE,))
            if not cur.fetchone()[0]:
                self._create_state_table(cur)
            cur.execute("SELECT p FROM unnest(%s::text[]) p WHERE NOT has_table_privilege(%s, p)",
                        (list(STATE_TABLE_PRIVILEGES), STATE_TABLE))
            missing = [r[0] for r in cur.fetchall()]
        if missing:
            raise SetupError(
                f"user {self.user!r} lacks {', '.join(missing)} on {STATE_TABLE} — in AWS re-run the bootstrap "
                f"(`terraform apply`), which grants them; elsewhere `GRANT {', '.join(STATE_TABLE_PRIVILEGES)} "
                f"ON {STATE_TABLE} TO {self.user};`"
            )

    def _create_state_table(self, cur: Any) -> None:
        try:
            cur.execute(STATE_TABLE_DDL)
        except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
            pass  # created concurrently
        except psycopg2.errors.InsufficientPrivilege as exc:
            first = (exc.pgerror or str(exc)).strip().splitlines()[0]
            raise SetupError(
                f"user {self.user!r} may not create {STATE_TABLE} ({first}) — in AWS the bootstrap creates it "
                "(re-run it: `terraform apply`); elsewhere create it as the database owner (see STATE_TABLE_DDL "
                "in lambdas/cdc/database.py) and grant this user SELECT, INSERT, UPDATE, DELETE on it"
            ) from None
        except psycopg2.Error as exc:
            first = (exc.pgerror or str(exc)).strip().splitlines()[0]
            raise SetupError(f"cannot create {STATE_TABLE}: {first}") from None

    def state(self, conn: Any, slot: str) -> dict[str, Any] | None:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT publication, snapshot_lsn::text, snapshot_started_at, snapshot_completed_at, snapshot_rows "
                f"FROM {STATE_TABLE} WHERE slot_name = %s",
                (slot,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return dict(zip(("publication", "snapshot_lsn", "started_at", "completed_at", "rows"), row, strict=True))

    def record_snapshot_start(self, conn: Any, slot: str, publication: str, lsn: str) -> None:
        with conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {STATE_TABLE} (slot_name, publication, snapshot_lsn, snapshot_started_at) "
                "VALUES (%s, %s, %s, now()) ON CONFLICT (slot_name) DO UPDATE SET publication = EXCLUDED.publication,"
                " snapshot_lsn = EXCLUDED.snapshot_lsn, snapshot_started_at = now(), snapshot_completed_at = NULL,"
                " snapshot_rows = NULL, updated_at = now()",
                (slot, publication, lsn),
            )

    def record_snapshot_done(self, conn: Any, slot: str, rows: int) -> None:
        with conn.cursor() as cur:
            cur.execute(
                f"UPDATE {STATE_TABLE} SET snapshot_completed_at = now(), snapshot_rows = %s, updated_at = now() "
                "WHERE slot_name = %s",
                (rows, slot),
            )

    def forget(self, conn: Any, slot: str) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (STATE_TABLE,))
            if cur.fetchone()[0] is not None:
                cur.execute(f"DELETE FROM {STATE_TABLE} WHERE slot_name = %s", (slot,))


def _has_rds_replication(cur: Any) -> bool:
    cur.execute("SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = 'rds_replication'")
    row = cur.fetchone()
    return bool(row and row[0])


_DESCRIBE = (
    "SELECT c.oid, n.nspname, c.relname, c.relreplident::text, c.relkind::text "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
)
_PRIMARY_KEY = (
    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
    "WHERE i.indrelid = %s AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)"
)
_COLUMNS = (
    "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped "
    "AND attgenerated = '' ORDER BY attnum"
)
