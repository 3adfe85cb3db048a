"""make verify — reconcile every output of the pipeline against the simulators' ground truth.

    python -m lambdas.verify                          # the local stack (EB_* settings / .env)
    python -m lambdas.verify --profile aws            # MSK + Glue + Aurora, from EB_* variables (Terraform outputs)
    python -m lambdas.verify --topic-prefix t123_     # a scratch topic set and the truth of runs that wrote to it
    python -m lambdas.verify --truth-file truth.jsonl --json result.json

Prints one reconciliation table (per output: compared, matched, missing, extra, wrong, the first
differing keys) for closed windows and quiet bookings only, then p50/p99 latency per stage.
Exit status: 0 everything compared matched; 1 a mismatch, or nothing could be compared yet;
2 verify could not run (broker, topic, database, flags) — one line says why.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from eventbus.cli import exit_with, unwritable
from lambdas.verify.settings import MAX_HOURS, MAX_SECONDS


def _duration(most: float) -> Callable[[str], float]:
    """An argparse type: a finite number from 0 to ``most`` (``inf``/``nan`` would overflow a timestamp)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (0 <= value <= most):  # also false for nan
            raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to {most:,.0f}")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lambdas.verify", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=("local", "aws"), help="connection profile (default: EB_PROFILE, else local)")
    p.add_argument("--topic-prefix", help="read <prefix><topic> (EB_VERIFY_TOPIC_PREFIX)")
    p.add_argument("--truth-file", type=Path, help="read the truth from a JSON-lines file instead of topic_truth")
    p.add_argument("--hours", type=_duration(MAX_HOURS),
                   help="only the last N hours of truth (EB_VERIFY_HOURS; 0 = all)")
    p.add_argument("--grace", type=_duration(MAX_SECONDS), metavar="S",
                   help="compare windows this far behind the watermark (EB_VERIFY_GRACE_S)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency stages (reads fewer topics)")
    p.add_argument("--no-postgres", action="store_true", help="skip booking_state vs PostgreSQL")
    p.add_argument("--no-lake", action="store_true", help="skip the lake's records per topic/hour vs Kafka")
    p.add_argument("--show", type=int, help="differing keys named per output (EB_VERIFY_SHOW_KEYS)")
    p.add_argument("--json", type=Path, help="also write the full result to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.json and (problem := unwritable(args.json, "--json")):
        parser.error(problem)
    from eventbus.exceptions import EventBusError, SettingsError
    from eventbus.settings import Settings
    from lambdas.verify.latency import Stage
    from lambdas.verify.latency import render as render_latency
    from lambdas.verify.reconcile import Diff, Row, render
    from lambdas.verify.settings import VerifySettings

    try:
        settings = Settings(profile=args.profile) if args.profile else Settings()
        overrides = {k: v for k, v in {"topic_prefix": args.topic_prefix, "hours": args.hours, "grace_s": args.grace,
                                       "show_keys": args.show}.items() if v is not None}
        if args.no_postgres:
            overrides["check_postgres"] = False
        if args.no_lake:
            overrides["check_lake"] = False
        vs = VerifySettings(**overrides)
    except SettingsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    from lambdas.verify.run import verify

    try:
        result = verify(settings, vs, truth_file=args.truth_file, latency=not args.no_latency)
    except EventBusError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    rows = []
    for r in result["rows"]:
        row = Row(**{k: r[k] for k in ("output", "topic", "compared", "matched", "missing", "extra", "wrong", "note")})
        row.diffs = [Diff(**d) for d in r["diffs"]]
        rows.append(row)
    print(render(rows, vs.show_keys))
    if result["skipped"]:
        print("not compared: " + ", ".join(f"{n} {reason}" for reason, n in sorted(result["skipped"].items())))
    if result["tallies"]:
        print("truth: " + ", ".join(f"{k}={v}" for k, v in sorted(result["tallies"].items())))
    if result["latency"]:
        print()
        print(render_latency([Stage(**s) for s in result["latency"]]))
    reads = ", ".join(f"{t} {r['records']:,}" for t, r in result["reads"].items())
    print(f"\nverified in {result['seconds']:.1f} s (read: {reads}); result in {vs.results() / 'last.json'}")
    if args.json:
        try:
            args.json.write_text(json.dumps(result, default=str, indent=1))
        except OSError as exc:
            sys.stderr.write(f"error: cannot write --json {args.json}: {exc.strerror} — the result is in "
                             f"{vs.results() / 'last.json'}\n")
            return 2
    if not result["compared_anything"]:
        print("NOTHING COMPARED: no window is closed and no booking quiet yet — wait, or check that the "
              "simulators run with truth on")
        return 1
    print("OK: every closed window and quiet booking matched" if result["ok"] else "MISMATCH")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    exit_with(main)
