"""``python -m local.replay [--port 8090]``: serve the recorded external APIs until stopped."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from datetime import UTC, date, datetime

from eventbus.cli import exit_with
from local.replay.server import DEFAULT_RATE_LIMITS, ReplayServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.replay",
        description="Serve recorded external API responses (local/replay/recordings) on 127.0.0.1. "
                    "A call to https://HOST/PATH is made as http://127.0.0.1:PORT/HOST/PATH.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    parser.add_argument("--today", type=date.fromisoformat, default=None,
                        help="the APIs' 'today' (date windows such as Open-Meteo's); default: the real date")
    parser.add_argument("--now", type=_utc, default=None,
                        help="the APIs' clock, ISO 8601 (e.g. 2026-01-16T01:00:00Z: the ECB's rates of that day are "
                             "not yet published); default: --today's 00:00 UTC, else the real time")
    parser.add_argument("--no-rate-limits", action="store_true",
                        help=f"do not enforce the real services' limits ({DEFAULT_RATE_LIMITS})")
    args = parser.parse_args(argv)
    try:
        server = ReplayServer(args.host, args.port, today=args.today, now=args.now,
                              rate_limits=None if args.no_rate_limits else DEFAULT_RATE_LIMITS)
    except OSError as exc:
        print(f"replay: cannot bind {args.host}:{args.port}: {exc} — stop what uses it or pass --port", file=sys.stderr)
        return 1
    # SIGTERM (supervisord's stop) ends serve_forever like ^C. Not httpd.shutdown(): called from the
    # handler, which runs inside serve_forever's own thread, it waits for itself and never returns.
    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"replay: serving recorded APIs at {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.httpd.serve_forever()
    server.httpd.server_close()
    return 0


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


if __name__ == "__main__":
    exit_with(main)
