"""Scenarios: a YAML file (``scenarios/<name>.yaml`` or any path) plus command-line overrides.

Every key is validated; an unknown or invalid one is an error that names it, e.g.
``sources.mobile.rat: unknown key (did you mean rate?)``. Overrides use dotted paths with YAML values::

    >>> from lambdas.simulators.scenario import load_scenario
    >>> s = load_scenario("default", ["sources.mobile.rate=10", "speed=max"])
    >>> s.sources["mobile"].rate
    10.0
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lambdas.simulators.exceptions import ScenarioError
from lambdas.simulators.sources import REGISTRY

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SinkName = Literal["auto", "gateway", "kafka", "jsonl", "stdout", "discard"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _unset_is_auto(v: Any) -> Any:
    return "auto" if v is None else v


class SourceSpec(_Strict):
    enabled: bool = True
    #: Mean events per second (shaped by the curve). OLTP: back-office transactions per second.
    #: Unset: the source class's ``default_rate`` (``with_declared_rates``).
    rate: float = Field(ge=0.0, le=10_000_000.0)
    sink: SinkName = "auto"
    options: dict[str, Any] = Field(default_factory=dict)

    _sink_unset = field_validator("sink", mode="before")(_unset_is_auto)


class CurveSpec(_Strict):
    shape: Literal["flat", "diurnal"] = "diurnal"
    #: 0 = flat, 1 = the full day/night swing (night traffic ~15% of the evening peak).
    amplitude: float = Field(default=0.1, ge=0.0, le=1.0)
    utc_offset_h: float = Field(default=7.0, ge=-12.0, le=14.0)


class GatewaySpec(_Strict):
    url: str | None = None  # default: EB_GATEWAY_URL
    batch_max: int = Field(default=500, ge=1, le=500)
    timeout_s: float = Field(default=10.0, gt=0.0)


class KafkaSpec(_Strict):
    encoder: Literal["compiled", "fastavro"] = "compiled"
    linger_ms: int | None = Field(default=None, ge=0, le=1000)
    #: Seconds to wait for outstanding acknowledgements at shutdown.
    flush_timeout_s: float = Field(default=20.0, gt=0.0)
    #: Produce to ``<prefix><catalog topic>`` (benchmarks use throw-away topics); schemas stay the catalog's.
    topic_prefix: str = ""
    #: Replay mode (``replay.py``): each Kafka source pre-builds this many records and re-emits them with
    #: fresh ids and times, pre-encoded — for load beyond live generation. 0 = live generation.
    replay_pool: int = Field(default=0, ge=0, le=10_000_000)
    #: Extra librdkafka producer settings (idempotence and acks=all are fixed by the delivery contract).
    producer: dict[str, str | int | float | bool] = Field(default_factory=dict)


class FileSpec(_Strict):
    path: str = "simulated-events.jsonl"


class TruthSpec(_Strict):
    """Ground truth of what was delivered (``truth.py``), published for ``make verify``."""

    enabled: bool = False
    #: ``kafka``: the compacted ``topic_truth`` (with ``kafka.topic_prefix``); ``jsonl``: a file (``path``);
    #: ``auto``: Kafka when some source delivers to Kafka or the gateway, none for file/discard-only runs.
    sink: Literal["auto", "kafka", "jsonl"] = "auto"
    path: str = "truth.jsonl"
    #: Changed buckets, bookings and the run's heartbeat go out this often (a crash loses at most this much).
    publish_every_s: float = Field(default=5.0, gt=0.0, le=300.0)
    #: An event this far behind the newest effective event time delivered so far is recorded one by one,
    #: with that newest time, so verify can apply the watermark rule per window; newer ones are just counted.
    late_after_s: float = Field(default=60.0, ge=1.0, le=3600.0)


class FaultSpec(_Strict):
    """Faults injected into the sources with a client event time (the catalog's ``event_time``): see faults.py."""

    #: Share of events sent twice (same id, same content).
    duplicates: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Share of events sent late (event time moved back, as a client that buffered it offline).
    late: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Of the late ones, the share late beyond the watermark; the others are late within it.
    late_beyond_share: float = Field(default=0.25, ge=0.0, le=1.0)
    #: Delay of late-within events, seconds (min, max): well inside the allowed lateness.
    late_within_s: tuple[float, float] = (20.0, 150.0)
    #: Delay of late-beyond events, seconds (min, max): window end well behind the watermark.
    late_beyond_s: tuple[float, float] = (1500.0, 2700.0)
    #: Share of events dated in the future, beyond the catalog's max_future_skew_s (refused or clamped).
    future: float = Field(default=0.0, ge=0.0, le=1.0)
    future_s: tuple[float, float] = (3600.0, 86400.0)

    def any(self) -> bool:
        return bool(self.duplicates or self.late or self.future)


class Scenario(_Strict):
    name: str = "custom"
    description: str = ""
    seed: int | None = Field(default=None, ge=0, description="null = random (printed, so the run can be replayed)")
    start: datetime | None = Field(default=None, description="simulated start (ISO-8601); null = now")
    duration_s: float | None = Field(default=None, gt=0.0, description="wall-clock seconds; null = until stopped")
    count: int | None = Field(default=None, ge=1, description="total events, shared by rate; null = unlimited")
    speed: Literal["realtime", "max"] = "realtime"
    workers: int = Field(default=1, ge=1, le=64)
    users: int = Field(default=2000, ge=1, le=10_000_000)
    hash: bool = False
    sink: SinkName = "auto"
    display: Literal["auto", "tty", "plain", "off"] = "auto"
    display_every_s: float = Field(default=2.0, gt=0.0)
    curve: CurveSpec = Field(default_factory=CurveSpec)
    gateway: GatewaySpec = Field(default_factory=GatewaySpec)
    kafka: KafkaSpec = Field(default_factory=KafkaSpec)
    file: FileSpec = Field(default_factory=FileSpec)
    truth: TruthSpec = Field(default_factory=TruthSpec)
    faults: FaultSpec = Field(default_factory=FaultSpec)
    #: Every registered source with a ``default_rate`` runs at it unless ``sources`` says otherwise
    #: (``sources.<name>.enabled: false`` leaves one out): a new source needs no scenario line.
    baseline: bool = False
    sources: dict[str, SourceSpec] = Field(default_factory=dict)

    _sink_unset = field_validator("sink", mode="before")(_unset_is_auto)

    @field_validator("display", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        return {False: "off", True: "auto"}.get(v, v) if isinstance(v, bool) else v  # YAML 1.1 reads off as false

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2025-06-01T08:00:00Z")
        return v

    def enabled(self) -> dict[str, SourceSpec]:
        return {n: s for n, s in self.sources.items() if s.enabled}

    def total_rate(self) -> float:
        return sum(s.rate for s in self.enabled().values())

    def start_ms(self) -> int:
        """The simulated start: ``start``, else now — except a counted run at ``speed: max``, whose
        simulated clock outruns the wall clock: it starts far enough back to end by now, because the
        gateway refuses event times ahead of its clock (the catalog's ``max_future_skew_s``) and Spark
        clamps them, as a real pipeline would. The span allows for the curve's slowest hour."""
        if self.start is not None:
            return int(self.start.timestamp() * 1000)
        now_ms = int(datetime.now(tz=UTC).timestamp() * 1000)
        if self.speed == "max" and self.count and self.total_rate() > 0:
            slowest = self.total_rate() * (1.0 - min(self.curve.amplitude, 0.9))
            return now_ms - int(self.count / slowest * 1000)
        return now_ms


def scenario_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def _path_of(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ScenarioError(f"scenario file {path} does not exist")
        return path
    named = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not named.is_file():
        raise ScenarioError(f"no scenario named {name_or_path!r} (known: {', '.join(scenario_names())}; "
                            "or pass a path to a .yaml file)")
    return named


def _set(doc: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = doc
    for i, key in enumerate(keys[:-1]):
        nxt = node.get(key)
        if nxt is None:
            nxt = node[key] = {}
        if not isinstance(nxt, dict):
            raise ScenarioError(f"{'.'.join(keys[:i + 1])} is not a mapping, cannot set {dotted}")
        node = nxt
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``key.path=value`` with a YAML value (``10`` is a number, ``true`` a boolean, ``[a, b]`` a list)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ScenarioError(f"override {text!r} is not key.path=value (e.g. sources.mobile.rate=10)")
    try:
        return key, yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"override {text!r}: value is not valid YAML: {exc}") from None


def _known(loc: tuple[Any, ...], model: type[BaseModel]) -> list[str]:
    """The keys allowed where an unknown key was found (for "did you mean")."""
    node: Any = model
    for part in loc[:-1]:
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            if field is None:
                return []
            node = field.annotation
        elif getattr(node, "__origin__", None) is dict:
            node = node.__args__[1]
        else:
            return []
    if getattr(node, "__origin__", None) is dict:
        node = node.__args__[1]
    return list(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _explain(exc: ValidationError, model: type[BaseModel], where: str, prefix: tuple[str, ...] = ()) -> ScenarioError:
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(prefix + loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            known = _known(err["loc"], model)
            close = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else (f" (known: {', '.join(known)})" if known else "")
            lines.append(f"{key}: unknown key{hint}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing")
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return ScenarioError(f"invalid scenario {where}:\n  " + "\n  ".join(lines))


def load_scenario(name_or_path: str = "default", overrides: list[str] | None = None) -> Scenario:
    """Read, override and validate a scenario. ``ScenarioError`` names every bad key."""
    path = _path_of(name_or_path)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario {path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"scenario {path}: expected a mapping of keys at the top level")
    doc.setdefault("name", path.stem)
    given = []
    for text in overrides or []:
        key, value = parse_override(text)
        _set(doc, key, value)
        given.append(text)
    return validate_scenario(doc, f"{path}" + (f" with overrides {given}" if given else ""))


def with_declared_rates(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the rates the source classes declare (``Source.default_rate``) filled in: for every
    registered source when ``baseline`` is true, and for a listed source that sets no ``rate``."""
    sources = doc.get("sources")
    if sources is None:
        sources = {}
    if not isinstance(sources, dict):
        return doc  # validation names the error
    sources = {name: dict(spec) if isinstance(spec, dict) else spec for name, spec in sources.items()}
    if doc.get("baseline") is True:
        for name, cls in REGISTRY.items():
            if cls.default_rate is not None:
                sources.setdefault(name, {})
    for name, spec in sources.items():
        declared = REGISTRY.get(name)
        if isinstance(spec, dict) and "rate" not in spec and declared is not None and declared.default_rate is not None:
            spec["rate"] = declared.default_rate
    return {**doc, "sources": sources}


def validate_scenario(doc: dict[str, Any], where: str = "(inline)") -> Scenario:
    try:
        scenario = Scenario.model_validate(with_declared_rates(doc))
    except ValidationError as exc:
        raise _explain(exc, Scenario, where) from None
    unknown = [n for n in scenario.sources if n not in REGISTRY]
    if unknown:
        known = ", ".join(sorted(REGISTRY))
        raise ScenarioError(f"invalid scenario {where}:\n  " + "\n  ".join(
            f"sources.{n}: unknown source (known: {known})" for n in unknown))
    for name, spec in scenario.sources.items():
        options_model = REGISTRY[name].Options
        try:
            options_model.model_validate(spec.options)
        except ValidationError as exc:
            raise _explain(exc, options_model, where, ("sources", name, "options")) from None
    return scenario


def source_options(scenario: Scenario, name: str) -> Any:
    return REGISTRY[name].Options.model_validate(scenario.sources[name].options)
