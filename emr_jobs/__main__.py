"""``python -m emr_jobs`` — run the Spark Structured Streaming jobs (see emr_jobs/README.md)."""

from __future__ import annotations

import argparse
import logging

from emr_jobs.jobs import job_names, registry
from emr_jobs.run import guarded, run
from eventbus.cli import exit_with
from eventbus.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emr_jobs",
        description="Spark Structured Streaming jobs: app-event and clickstream windows, booking and user "
        "state, the Parquet lake and dead letters. One driver runs every selected job.",
    )
    names = ",".join(job_names())
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="start the jobs (until SIGTERM/Ctrl-C, or --once)")
    p_run.add_argument("--jobs", default=names, help=f"comma-separated jobs (default: all of {names})")
    p_run.add_argument("--once", action="store_true",
                       help="trigger availableNow: process what is in the topics, then exit")
    sub.add_parser("jobs", help="list the jobs (their @job declarations): queries, topics read and written")
    args = parser.parse_args(argv)
    if args.command == "jobs":
        for job in registry():
            print(f"{job.name:14} queries: {', '.join(job.queries):18} reads: {', '.join(job.reads)}  "
                  f"writes: {', '.join(job.writes)}")
        return 0
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]

    def start() -> int:
        configure_logging()  # the driver's own lines: queries started, restarts for new schema versions, stops
        logging.getLogger("py4j").setLevel(logging.WARNING)  # not py4j's per-connection INFO lines
        return run(jobs, once=args.once)

    return guarded(start)


if __name__ == "__main__":
    exit_with(main)
