"""Which sink and which store each source gets, and how a count is shared: the runner's wiring."""

from __future__ import annotations

from typing import Any

from eventbus.settings import Settings
from lambdas.simulators.exceptions import SimulatorError
from lambdas.simulators.scenario import Scenario
from lambdas.simulators.sinks import DiscardSink, GatewaySink, JsonLinesSink, KafkaSink, Sink
from lambdas.simulators.sources import Source


def sink_kind(scenario: Scenario, name: str, cls: type[Source], chosen: str) -> str:
    """The source's own choice, else the scenario-wide one where it applies, else the source's default."""
    fits = {"gateway": cls.default_sink == "gateway", "kafka": cls.topic is not None}
    if chosen != "auto":
        if not fits.get(chosen, True):
            where = "app events only" if chosen == "gateway" else "catalog topics only"
            raise SimulatorError(f"sources.{name}.sink: {chosen} takes {where}; "
                                 f"use {cls.default_sink}, jsonl, stdout or discard for {name}")
        return chosen
    overall = scenario.sink
    return overall if overall != "auto" and fits.get(overall, True) else cls.default_sink


def make_sink(kind: str, sc: Scenario, settings: Settings, workers: int = 1, stream: int = 0) -> Sink:
    if kind == "kafka":
        overrides: dict[str, Any] = dict(sc.kafka.producer)
        if sc.kafka.linger_ms is not None:
            overrides["linger.ms"] = sc.kafka.linger_ms
        return KafkaSink(settings, encoder=sc.kafka.encoder, topic_prefix=sc.kafka.topic_prefix, **overrides)
    if kind == "gateway":
        keys = settings.gateway_keys()  # the secret's in AWS (EB_GATEWAY_API_KEYS_SECRET_ARN), else the static ones
        key = keys[0] if keys else ""
        return GatewaySink(sc.gateway.url or settings.gateway_url, key, batch_max=sc.gateway.batch_max,
                           timeout_s=sc.gateway.timeout_s)
    if kind == "jsonl":
        return JsonLinesSink(sc.file.path if workers == 1 else f"{sc.file.path}.{stream}")
    if kind == "stdout":
        return JsonLinesSink()
    return DiscardSink()


def make_store(options: Any, settings: Settings) -> Any:
    """The OLTP workload's store: PostgreSQL (``settings.pg_dsn()``) or the in-memory rules."""
    if options.store == "postgres":
        from lambdas.simulators.store import PostgresStore

        return PostgresStore(settings.pg_dsn())
    from lambdas.simulators.store import MemoryStore

    return MemoryStore()


def split_count(total: int, weights: dict[str, float], workers: int = 1, stream: int = 0) -> dict[str, int]:
    """``total`` events shared by ``weights`` (largest remainder), then among ``workers``; exact sums."""
    wsum = sum(weights.values()) or 1.0
    raw = {k: total * w / wsum for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (out[k] - raw[k], k))[: total - sum(out.values())]:
        out[k] += 1
    return {k: n // workers + (stream < n % workers) for k, n in out.items()}
