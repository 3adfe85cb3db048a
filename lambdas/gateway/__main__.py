"""Run the gateway under uvicorn (uvloop + httptools), bound to 127.0.0.1, one worker per CPU.

    python -m lambdas.gateway                    # 127.0.0.1:8000 (EB_GATEWAY_URL), workers = CPUs
    python -m lambdas.gateway --workers 1 --port 8001
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlparse

from eventbus.cli import exit_with, port_number
from eventbus.logging import configure_logging, get_logger
from eventbus.settings import get_settings

log = get_logger("gateway")


def default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lambdas.gateway",
        description="Event gateway (FastAPI) under uvicorn: POST /events/{user,booking,batch} -> Kafka "
        "topic_app_events; answers 2xx only once the broker acknowledged. Docs at /docs.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="port (default: EB_GATEWAY_URL's, else 8000)")
    parser.add_argument(
        "--workers", type=int, default=default_workers(), help=f"worker processes (default: CPUs = {default_workers()})"
    )
    parser.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug", "trace"),
                        help="uvicorn log level (default: EB_LOG_LEVEL's)")
    parser.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")
    args = parser.parse_args(argv)
    settings = get_settings()  # after --help: a refused setting is reported when the gateway starts
    args.port = args.port or urlparse(settings.gateway_url).port or 8000
    args.log_level = args.log_level or settings.log_level.lower()

    import uvicorn

    configure_logging(settings)
    log.info("starting", extra={"host": args.host, "port": args.port, "workers": args.workers})
    uvicorn.run(
        "lambdas.gateway.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        log_level=args.log_level,
        access_log=args.access_log,
        backlog=4096,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=15,
    )
    return 0


if __name__ == "__main__":
    exit_with(main)
