"""``python -m lambdas.bootstrap``: apply the catalog from a checkout — what `make local-up` runs, and the
bootstrap Lambda's code by hand in AWS (``EB_PROFILE=aws``).

    python -m lambdas.bootstrap            # topics, schemas; locally also buckets + the DB secret
    python -m lambdas.bootstrap --json     # the report as JSON
"""

from __future__ import annotations

import argparse
import json
import sys

from eventbus.cli import exit_with
from eventbus.logging import configure_logging
from eventbus.settings import get_settings
from lambdas.bootstrap.apply import apply_all
from lambdas.bootstrap.settings import BootstrapSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lambdas.bootstrap",
        description="Apply the topic catalog (topics, configs, schemas; locally also buckets and the DB secret; "
                    "in AWS the database objects).",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-topics", action="store_true", help="skip Kafka (registry/buckets only)")
    args = parser.parse_args(argv)
    settings, own = get_settings(), BootstrapSettings()
    configure_logging(settings)
    if settings.profile == "local":
        from lambdas.bootstrap.local_resources import apply_local

        report = apply_local(settings, own, topics=not args.no_topics)
    else:
        report = apply_all(settings, own, topics=not args.no_topics)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    t = report.topics
    print(
        f"topics: {len(t.created)} created, {len(t.reconfigured)} reconfigured, "
        f"{len(t.repartitioned)} repartitioned, {len(t.unchanged)} unchanged; "
        f"schemas: {len(report.schemas)} registered; buckets created: {len(report.buckets_created)}"
    )
    for warning in t.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    exit_with(main)
