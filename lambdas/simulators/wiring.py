"""Which sink and which store each source gets, and how a count is shared: the runner's wiring."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from eventbus.cli import unwritable
from eventbus.settings import Settings
from lambdas.simulators.exceptions import ScenarioError
from lambdas.simulators.scenario import Scenario
from lambdas.simulators.sinks import DiscardSink, GatewaySink, JsonLinesSink, KafkaSink, Sink
from lambdas.simulators.sources import Source

log = logging.getLogger("simulators.wiring")


def sink_kind(scenario: Scenario, name: str, cls: type[Source], chosen: str) -> str:
    """The source's own choice, else the scenario-wide one where it applies, else the source's default."""
    fits = {"gateway": cls.default_sink == "gateway", "kafka": cls.topic is not None}
    if chosen != "auto":
        if not fits.get(chosen, True):
            where = "app events only" if chosen == "gateway" else "catalog topics only"
            raise ScenarioError(f"sources.{name}.sink: {chosen} takes {where}; "
                                f"use {cls.default_sink}, jsonl, stdout or discard for {name}")
        return chosen
    overall = scenario.sink
    return overall if overall != "auto" and fits.get(overall, True) else cls.default_sink


def preflight(sc: Scenario) -> None:
    """What a run will open, checked before anything starts (``ScenarioError``, exit 2): each enabled source's
    sink fits it, and the JSON-lines files it will append to (``file.path``, ``truth.path``) can be written."""
    from lambdas.simulators.sources import REGISTRY

    kinds = {sink_kind(sc, name, REGISTRY[name], spec.sink) for name, spec in sc.enabled().items()}
    if "jsonl" in kinds:
        writable(sc.file.path, "file.path (--out)")
    if sc.truth.enabled and sc.truth.sink == "jsonl":
        writable(sc.truth.path, "truth.path")


def writable(path: str | Path, what: str) -> None:
    """``ScenarioError`` naming ``what`` unless ``path`` is a file that can be created or appended to."""
    if problem := unwritable(path, what):
        raise ScenarioError(problem)


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


def make_faults(sc: Scenario, settings: Settings, name: str, topic: str | None, seed: int, stream: int,
                future_ids: set[str]) -> Any:
    """A FaultInjector (faults.py) for a source whose topic has a client event time, when the scenario injects."""
    from eventbus.catalog import load_catalog

    catalog = load_catalog(settings)
    if not sc.faults.any() or topic is None or catalog.get(topic).event_time is None:
        return None
    from lambdas.simulators.faults import FaultInjector

    inj = FaultInjector(sc.faults, catalog, name, seed, stream)
    inj.future_ids = future_ids  # one set per run: the gateway sink counts their 422 as planned
    return inj


def make_truth(sc: Scenario, settings: Settings, sinks: list[Sink], replaying: bool, seed: int, stream: int,
               workers: int, start_ms: int) -> Any:
    """The run's TruthRecorder (truth.py), or None: truth off, or a run that delivers only to files."""
    spec = sc.truth
    kind: str = spec.sink
    if kind == "auto":
        kind = "kafka" if any(s.name in ("kafka", "gateway") for s in sinks) else "off"
    if not spec.enabled or kind == "off":
        return None
    from eventbus.catalog import load_catalog
    from lambdas.simulators.truth import JsonLinesPublisher, KafkaPublisher, RunMeta, TruthRecorder

    if replaying:
        log.warning("truth: replay mode re-emits pre-encoded records the truth does not see; "
                    "verify will report those sources' windows as extra")
    publisher = (KafkaPublisher(settings, sc.kafka.topic_prefix) if kind == "kafka"
                 else JsonLinesPublisher(spec.path if workers == 1 else f"{spec.path}.{stream}"))
    faults = {k: float(v) for k, v in sc.faults.model_dump().items() if isinstance(v, float | int)}
    meta = RunMeta(run_id=f"{sc.name}-{start_ms:x}-{secrets.token_hex(3)}-w{stream}", scenario=sc.name, seed=seed,
                   stream=stream, topic_prefix=sc.kafka.topic_prefix, start_ms=start_ms, faults=faults)
    return TruthRecorder(spec, load_catalog(settings), publisher, meta)
