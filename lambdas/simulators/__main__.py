"""Command line of the simulators (the Fargate task's command and the local stack's program).

    python -m lambdas.simulators run                              # default scenario, forever, live rates
    python -m lambdas.simulators run --duration 60 --seed 7      # one reproducible minute
    python -m lambdas.simulators run --sink stdout --only mobile --count 20 --speed max
    python -m lambdas.simulators run --scenario load --workers 2 --duration 30
    python -m lambdas.simulators run --rate mobile=50 --set sources.oltp.options.lifecycle_time_scale=0.1
    python -m lambdas.simulators burst --time 2025-06-01T08:00:00Z   # the Lambda handler, once
    python -m lambdas.simulators sources | scenarios | validate FILE

Exit status: 0 ok, 1 events undelivered or a source failed, 2 bad scenario/flags.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import signal
import sys
from typing import Any

from eventbus.cli import exit_with, port_number
from eventbus.exceptions import EventBusError
from lambdas.simulators.exceptions import ScenarioError, SimulatorError

_SINKS = ("auto", "gateway", "kafka", "jsonl", "stdout", "discard")


def _factor(text: str) -> float:
    """An argparse type: a finite number > 0 (``nan``/``inf`` would reach the rate schedule)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number > 0")
    return value


def _status_port(text: str) -> int:
    """An argparse type: 0 (off) or a TCP port 1-65535."""
    if text.strip() == "0":
        return 0
    try:
        return port_number(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 (off) or a port number (1-65535)") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lambdas.simulators", description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario", description="Run a scenario (YAML + overrides).")
    run.add_argument("--scenario", "-s", default="default", help="scenario name (see `scenarios`) or a .yaml path")
    run.add_argument("--seed", type=int, help="seed for reproducible content (default: random, printed)")
    run.add_argument("--start", help="simulated start, ISO-8601 with offset (default: now)")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument("--count", type=int, help="stop after this many events in total (shared by rate)")
    run.add_argument("--speed", choices=("realtime", "max"), help="hold rates to the clock, or as fast as possible")
    run.add_argument("--workers", type=int, help="processes (each runs 1/N of every rate)")
    run.add_argument("--sink", choices=_SINKS, help="sink for every source (auto: gateway for app events, "
                                                    "kafka for streams, PostgreSQL for OLTP)")
    run.add_argument("--out", help="JSON-lines file for --sink jsonl")
    run.add_argument("--rate", action="append", default=[], metavar="SOURCE=EVENTS_PER_S", help="set a source's rate")
    run.add_argument("--only", help="comma-separated sources to run (the others are disabled)")
    run.add_argument("--scale", type=_factor, help="multiply every rate (a finite number > 0)")
    run.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override any scenario key")
    run.add_argument("--hash", action="store_true", help="print a SHA-256 of the generated content per source")
    run.add_argument("--display", choices=("auto", "tty", "plain", "off"), help="live rates on stderr")
    run.add_argument("--report", help="write the final report (JSON) to this file")
    run.add_argument("--gateway-url", help="gateway base URL (default EB_GATEWAY_URL)")
    run.add_argument("--status-port", type=_status_port, default=0, metavar="PORT",
                     help="serve per-source counts and rates on 127.0.0.1:PORT/status (0 = off; status.py)")
    burst = sub.add_parser("burst", help="invoke the Lambda handler once, as EventBridge would (a local burst)")
    burst.add_argument("--time", help="the scheduled minute, ISO-8601 (default: now); seeds the burst")
    burst.add_argument("--scenario", default="burst", help="scenario (default: burst, a minute of baseline traffic)")
    burst.add_argument("--count", type=int, help="events in the burst")
    burst.add_argument("--sink", choices=_SINKS, help="sink for every source")
    burst.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    sub.add_parser("sources", help="list the sources")
    sub.add_parser("scenarios", help="list the scenarios")
    val = sub.add_parser("validate", help="validate a scenario (and overrides) without running it")
    val.add_argument("scenario")
    val.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE")
    return p


def overrides_of(args: argparse.Namespace) -> list[str]:
    """The flags as ``key.path=value`` overrides; an unknown source name is an error naming the flag."""
    from lambdas.simulators.sources import REGISTRY

    known = ", ".join(sorted(REGISTRY))
    out = []
    for flag, key in (("seed", "seed"), ("start", "start"), ("duration", "duration_s"), ("count", "count"),
                      ("speed", "speed"), ("workers", "workers"), ("sink", "sink"), ("display", "display")):
        value = getattr(args, flag)
        if value is not None:
            out.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    if args.out:
        out.append(f"file.path={json.dumps(args.out)}")
    if args.gateway_url:
        out.append(f"gateway.url={json.dumps(args.gateway_url)}")
    if args.hash:
        out.append("hash=true")
    for text in args.rate:
        name, sep, value = text.partition("=")
        if not sep:
            raise ScenarioError(f"--rate {text}: expected SOURCE=EVENTS_PER_S, e.g. --rate mobile=10")
        if name not in REGISTRY:
            raise ScenarioError(f"--rate {text}: unknown source {name!r} (known: {known})")
        out.append(f"sources.{name}.rate={value}")
    return out + list(args.set)


def _apply_only_and_scale(scenario: Any, args: argparse.Namespace) -> None:
    from lambdas.simulators.scenario import validate_scenario
    from lambdas.simulators.sources import REGISTRY

    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        bad = [n for n in wanted if n not in REGISTRY]
        if bad:
            raise ScenarioError(f"--only: unknown source(s) {', '.join(bad)} (known: {', '.join(sorted(REGISTRY))})")
        missing = [n for n in wanted if n not in scenario.sources]
        if missing:
            raise ScenarioError(f"--only: {', '.join(missing)} not in scenario {scenario.name} "
                                "(add it with --rate SOURCE=N)")
        for name, spec in scenario.sources.items():
            spec.enabled = spec.enabled and name in wanted
    if args.scale is not None:
        for spec in scenario.sources.values():
            spec.rate *= args.scale
        # validated again: a scaled rate is held to the same bounds as a written one
        validate_scenario(scenario.model_dump(), f"{scenario.name} with --scale {args.scale:g}")


def cmd_run(args: argparse.Namespace) -> int:
    from eventbus.logging import configure_logging
    from eventbus.settings import get_settings
    from lambdas.simulators.display import Display, summary
    from lambdas.simulators.runner import Runner
    from lambdas.simulators.scenario import load_scenario
    from lambdas.simulators.status import serve as serve_status
    from lambdas.simulators.status import ticking
    from lambdas.simulators.wiring import preflight, writable

    scenario = load_scenario(args.scenario, overrides_of(args))
    _apply_only_and_scale(scenario, args)
    preflight(scenario)
    if args.report:
        writable(args.report, "--report")
    settings = get_settings()
    configure_logging(settings)
    seed = scenario.seed if scenario.seed is not None else secrets.randbits(32)
    start_ms = scenario.start_ms()
    display = Display(scenario.display, header=f"simulators {scenario.name} seed={seed} {scenario.speed}")
    sys.stderr.write(f"[simulators] scenario={scenario.name} seed={seed} start_ms={start_ms} "
                     f"workers={scenario.workers} "
                     f"speed={scenario.speed} target={scenario.total_rate():,.2f} events/s "
                     f"(replay: --seed {seed} --start {start_ms_iso(start_ms)})\n")
    if scenario.workers > 1:
        import multiprocessing as mp

        from lambdas.simulators.workers import run_workers

        stop = mp.get_context("spawn").Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        status = serve_status(args.status_port)
        report = run_workers(scenario, seed=seed, start_ms=start_ms, on_tick=ticking(status, display.show),
                             every_s=scenario.display_every_s, stop=stop)
    else:
        runner = Runner(scenario, settings, seed=seed, start_ms=start_ms)
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        serve_status(args.status_port, runner.snapshot)
        report = runner.run(on_tick=display.show, every_s=scenario.display_every_s)
    sys.stderr.write(summary(report) + "\n")
    code = 1 if report["undelivered"] or report["errors"] else 0
    if args.report:
        try:
            with open(args.report, "w") as fh:
                json.dump(report, fh, indent=2, default=str)
        except OSError as exc:
            sys.stderr.write(f"error: cannot write --report {args.report}: {exc.strerror}\n")
            return max(code, 2)
    return code


def start_ms_iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cmd_burst(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from lambdas.simulators.handler import handler

    when = args.time or datetime.now(tz=UTC).replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z")
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": when, "scenario": args.scenario,
             "count": args.count, "sink": args.sink, "overrides": args.set}
    print(json.dumps(handler(event, None), indent=2, default=str))
    return 0


def cmd_sources() -> int:
    from lambdas.simulators.sources import REGISTRY

    for name, cls in sorted(REGISTRY.items()):
        opts = ", ".join(f"{k}={f.default!r}" for k, f in cls.Options.model_fields.items()) or "-"
        rate = "-" if cls.default_rate is None else f"{cls.default_rate:g}/s"
        print(f"{name:<12} topic={cls.topic or '(PostgreSQL)'}  default sink={cls.default_sink}  "
              f"default rate={rate}  options: {opts}")
        doc = cls.__doc__ or sys.modules[cls.__module__].__doc__ or ""
        print(f"{'':<12} {doc.strip().splitlines()[0] if doc.strip() else ''}")
    return 0


def cmd_scenarios() -> int:
    from lambdas.simulators.scenario import load_scenario, scenario_names

    for name in scenario_names():
        sc = load_scenario(name)
        print(f"{name:<14} {sc.total_rate():>12,.2f} events/s  {sc.speed:<8}  {sc.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "burst":
            return cmd_burst(args)
        if args.command == "sources":
            return cmd_sources()
        if args.command == "scenarios":
            return cmd_scenarios()
        from lambdas.simulators.scenario import load_scenario

        sc = load_scenario(args.scenario, args.set)
        print(f"ok: {sc.name}, {len(sc.enabled())} source(s), {sc.total_rate():,.2f} events/s")
        return 0
    except ScenarioError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except (SimulatorError, EventBusError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    exit_with(main)
