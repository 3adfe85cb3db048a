"""Lambda entry point: one scheduled burst (EventBridge), the same runner as the Fargate task.

The event may carry any of ``scenario`` (name, default ``burst``), ``overrides`` (``key.path=value``
strings), ``seed``, ``count``, ``duration_s``, ``sink``. A scheduled event's ``time`` becomes the
simulated start, and — unless ``seed`` is given — the seed, so each minute's burst is different yet
reproducible. The run is cut to fit the invocation's remaining time. Undelivered events fail the
invocation (after the report is logged), so a broken gateway or broker shows up in Lambda's errors.

    >>> handler({"time": "2025-06-01T08:00:00Z", "count": 50, "sink": "discard",
    ...          "overrides": ["sources.oltp.options.store=memory"]}, None)["emitted"]
    50
"""

from __future__ import annotations

import json
from typing import Any

from eventbus.logging import configure_logging, get_logger
from eventbus.settings import get_settings
from lambdas.simulators.exceptions import SimulatorError, UndeliveredError
from lambdas.simulators.runner import Runner
from lambdas.simulators.scenario import load_scenario
from lambdas.simulators.world import mix

log = get_logger("simulators.handler")
#: Seconds kept free at the end of an invocation for the flush and the report.
RESERVE_S = 10.0


def _overrides(event: dict[str, Any], remaining_s: float | None) -> list[str]:
    out = [str(o) for o in event.get("overrides", [])]
    for key in ("seed", "count", "duration_s", "sink"):
        if event.get(key) is not None:
            out.append(f"{key}={json.dumps(event[key])}")
    if event.get("time") and event.get("start") is None:
        out.append(f"start={json.dumps(event['time'])}")
    if event.get("time") and event.get("seed") is None:
        out.append(f"seed={mix('burst', event['time']) & 0xFFFFFFFF}")
    if remaining_s is not None:
        budget = max(1.0, remaining_s - RESERVE_S)
        requested = event.get("duration_s")
        out.append(f"duration_s={min(float(requested), budget) if requested else budget}")
    return [*out, "display=off"]


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    event = event or {}
    settings = get_settings()
    configure_logging(settings)
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
    scenario = load_scenario(str(event.get("scenario", "burst")), _overrides(event, remaining))
    runner = Runner(scenario, settings)
    report = runner.run()
    summary = {k: report[k] for k in ("scenario", "seed", "start_ms", "elapsed_s", "emitted", "undelivered", "errors",
                                      "content_sha256")}
    summary["sources"] = {n: {"emitted": s["emitted"], "sink": s["sink"]} for n, s in report["sources"].items()}
    summary["sinks"] = report["sinks"]
    log.info("burst done", extra={"report": summary})
    if report["errors"]:
        raise SimulatorError("; ".join(report["errors"]))
    if report["undelivered"]:
        raise UndeliveredError({k: c.get("failed", 0) + c.get("rejected", 0) for k, c in report["sinks"].items()})
    return summary
