"""CLI of the CDC relay (the Fargate command and the local-stack program).

    python -m lambdas.cdc [run] [--slot travel_cdc] [--tables users,bookings,payments] [--metrics-port 9187]
    python -m lambdas.cdc status [--slot travel_cdc]
    python -m lambdas.cdc drop   [--slot travel_cdc]      # drop slot, publication and relay state

Options default from the relay's settings (``lambdas/cdc/settings.py``: EB_CDC_SLOT, EB_CDC_PUBLICATION,
EB_CDC_TABLES, EB_CDC_METRICS_PORT, ...); connections from the shared ones (EB_PG_*, EB_KAFKA_*).
Exit codes: 0 stopped cleanly, 2 the setup needs a fix
(the error line says which), 1 runtime failure (a restart resumes from the slot).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

import psycopg2.errors

from eventbus.cli import exit_with
from eventbus.exceptions import EventBusError
from eventbus.logging import configure_logging, get_logger
from eventbus.settings import get_settings
from lambdas.cdc.exceptions import CdcError, SetupError
from lambdas.cdc.pgoutput import format_lsn
from lambdas.cdc.relay import Relay
from lambdas.cdc.settings import RelayConfig

log = get_logger("cdc")


def _parser(defaults: RelayConfig) -> argparse.ArgumentParser:
    """Options default from ``defaults`` (the EB_CDC_* environment); `_config` turns them back into one."""
    parser = argparse.ArgumentParser(
        prog="python -m lambdas.cdc",
        description="PostgreSQL logical replication (pgoutput) -> Debezium envelopes (Avro) -> Kafka.",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="snapshot (first start) and stream changes until SIGTERM")
    status = sub.add_parser("status", help="print slot, relay state and lag as JSON")
    drop = sub.add_parser("drop", help="drop the slot, the publication and the relay state row")
    d = defaults
    for p in (run, status, drop):
        p.add_argument("--slot", default=d.slot, help="replication slot (default %(default)s)")
        p.add_argument("--publication", default=d.publication, help="publication name")
    run.add_argument("--tables", default=",".join(d.tables),
                     help="comma-separated tables to publish (default %(default)s)")
    run.add_argument("--topic", default=d.topic, help="catalog topic (schema + destination)")
    run.add_argument("--kafka-topic", default=d.kafka_topic,
                     help="produce to this topic instead (same schema), e.g. a relay of its own on a shared cluster")
    run.add_argument("--server-name", default=d.server_name, help="Debezium source.name")
    run.add_argument("--no-snapshot", dest="snapshot", action="store_false", default=d.snapshot,
                     help="new slot: stream only, skip the initial snapshot")
    run.add_argument("--resnapshot", action="store_true", default=d.resnapshot,
                     help="drop the slot and take a new snapshot (after a dropped slot; re-emits every row as op=r)")
    run.add_argument("--metrics-port", type=int, default=d.metrics_port,
                     help="serve /metrics and /status on 127.0.0.1:PORT (0 = off)")
    run.add_argument("--heartbeat-interval", dest="heartbeat_s", type=float, default=d.heartbeat_s,
                     help="seconds between heartbeat messages (0 = off)")
    run.add_argument("--log-interval", type=float, default=d.log_interval, help="seconds between status log lines")
    run.add_argument("--feedback-interval", type=float, default=d.feedback_interval,
                     help="seconds between LSN confirmations")
    run.add_argument("--max-inflight", type=int, default=d.max_inflight,
                     help="records awaiting Kafka before reading pauses")
    run.add_argument("--linger-ms", type=int, default=d.linger_ms,
                     help="producer linger.ms (default: EB_KAFKA_LINGER_MS)")
    return parser


def _config(args: argparse.Namespace) -> RelayConfig:
    """The relay's settings with the command line's values on top."""
    fields = RelayConfig.model_fields
    return RelayConfig(**{k: v for k, v in vars(args).items() if k in fields})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    settings = get_settings()
    parser = _parser(RelayConfig())
    args = parser.parse_args(argv or ["run"])  # no arguments = run (the Fargate command)
    if args.command is None:
        parser.print_help()
        return 2
    configure_logging(settings)
    try:
        if args.command == "run":
            return _run(args, settings)
        if args.command == "status":
            print(json.dumps(_status(args, settings), indent=2, default=str))
            return 0
        if args.command == "drop":
            print(json.dumps(_drop(args, settings)))
            return 0
    except CdcError as exc:
        log.error(str(exc))
        return exc.exit_code
    except EventBusError as exc:
        log.error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _run(args: argparse.Namespace, settings: Any) -> int:
    config = _config(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Relay(config, settings).run(stop)
    return 0


def _status(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    relay = Relay(_config(args), settings)
    conn = relay.db.connect()
    try:
        slot = relay.db.slot(conn, args.slot)
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('cdc_relay_state') IS NOT NULL")
            has_state = cur.fetchone()[0]
            cur.execute(
                "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1",
                (args.publication,),
            )
            tables = [r[0] for r in cur.fetchall()]
            lag = None
            if slot is not None:
                cur.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint,"
                    " pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint"
                    " FROM pg_replication_slots WHERE slot_name = %s",
                    (args.slot,),
                )
                lag = dict(zip(("lag_bytes", "retained_bytes"), cur.fetchone(), strict=True))
        if slot is not None:
            slot = {**slot, "confirmed_flush_lsn": format_lsn(slot["confirmed_flush_lsn"]),
                    "restart_lsn": format_lsn(slot["restart_lsn"])}
        return {
            "slot": args.slot,
            "slot_info": slot,
            "state": relay.db.state(conn, args.slot) if has_state else None,
            "publication": args.publication,
            "published_tables": tables,
            "lag": lag,
        }
    finally:
        conn.close()


def _drop(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    relay = Relay(_config(args), settings)
    conn = relay.db.connect()
    try:
        try:
            dropped = relay.db.drop_slot(conn, args.slot)
        except psycopg2.errors.ObjectInUse as exc:
            raise SetupError(f"{str(exc).strip()} — stop the relay using it first (`make local-down` stops "
                             "the stack's)") from None
        relay.db.drop_publication(conn, args.publication)
        relay.db.forget(conn, args.slot)
        return {"slot": args.slot, "slot_dropped": dropped, "publication_dropped": args.publication}
    finally:
        conn.close()


if __name__ == "__main__":
    exit_with(main)
