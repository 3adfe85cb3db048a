"""The console: a read-only web UI on the event layer, and ``peek`` for the terminal.

    python -m local.console                      # serve on 127.0.0.1:8088 (EB_CONSOLE_HOST/PORT)
    python -m local.console serve --port 8099
    python -m local.console peek --topic topic_app_events -n 5
    python -m local.console peek --topic topic_app_events --key u-a4a257-000461 --follow
    EB_PROFILE=aws EB_KAFKA_BOOTSTRAP=b-1.msk...:9098 python -m local.console   # MSK with IAM

Connections (EB_PROFILE, EB_KAFKA_*, EB_AWS_*, EB_PG_*, EB_REGISTRY_NAME) come from the shared settings;
the console's own knobs are EB_CONSOLE_* (see local/console/README.md).
Exit status: 0 ok, 1 a service did not answer, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys

from eventbus.cli import exit_with, port_number
from local.console.exceptions import ConsoleError


def _parser() -> argparse.ArgumentParser:
    parts = (__doc__ or "").split("\n\n")
    p = argparse.ArgumentParser(prog="python -m local.console", description=parts[0], epilog="\n\n".join(parts[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve the web console (the default command)")
    serve.add_argument("--host", help="bind address (default EB_CONSOLE_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=port_number, help="port, 1-65535 (default EB_CONSOLE_PORT, 8088)")
    peek = sub.add_parser("peek", help="print decoded records as JSON lines",
                          description="Print the newest records of a topic decoded through the registry, "
                                      "one JSON object per line (partition, offset, key, schema version, "
                                      "timestamp, value), oldest first; --follow keeps printing new ones.")
    peek.add_argument("--topic", "-t", required=True, help="catalog topic, e.g. topic_app_events")
    peek.add_argument("--key", "-k", help="only records with this key (exact, or /regex/)")
    peek.add_argument("--where", "-w", help="only records whose FIELD=VALUE, e.g. event_type=search")
    peek.add_argument("-n", type=int, default=10, help="how many of the newest matching records (default 10; 0 = none)")
    peek.add_argument("--follow", "-f", action="store_true", help="then keep printing new records (Ctrl-C ends)")
    return p


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from local.console.app import create_app
    from local.console.config import ConsoleSettings

    console = ConsoleSettings()
    host = getattr(args, "host", None) or console.host
    port = getattr(args, "port", None)
    port = console.port if port is None else port
    from eventbus.logging import configure_logging
    from local.stack.health import port_open, port_owner

    _check_host(host, port)
    if port_open(port, host if host not in ("0.0.0.0", "") else "127.0.0.1"):
        raise ConsoleError(f"{host}:{port} is taken by {port_owner(port)} — the stack's console may already be "
                           f"at http://127.0.0.1:{port}/; pick another with --port")
    configure_logging()
    print(f"console on http://{host}:{port}/", file=sys.stderr, flush=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)
    return 0


def _check_host(host: str, port: int) -> None:
    """A bind address that resolves (``bad..host`` is a UnicodeError deep in the socket module otherwise)."""
    import socket

    try:
        socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise ConsoleError(f"cannot listen on {host!r}: not an address or a host name that resolves ({reason}) — "
                           "give --host (or EB_CONSOLE_HOST) an IP address, e.g. 127.0.0.1") from None


def _peek(args: argparse.Namespace) -> int:
    from local.console.clients import Clients
    from local.console.filters import parse_filter
    from local.console.peek import peek

    clients = Clients()
    spec = clients.topic(args.topic)
    flt = parse_filter(spec, key=args.key, where=args.where)
    if args.n < 0 or args.n > clients.console.max_limit:
        raise ConsoleError(f"-n {args.n}: give 0-{clients.console.max_limit}")
    peek(clients, args.topic, flt, args.n, args.follow)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if args.command == "peek":
            return _peek(args)
        return _serve(args)
    except ConsoleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if exc.status == 424 else 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    exit_with(main)
