"""The one base class of every source. A new source is one subclass + one schema + one catalog line.

A source turns timestamps into records: the runner asks ``generate([ts, …])`` for exactly as many
records as the rate says are due, and ships them through the source's sink. Sources never sleep, never
talk to Kafka and never look at the wall clock — that is what makes them fast and deterministic.

    >>> from lambdas.simulators.sources.base import Source, SourceContext
    >>> class Heartbeat(Source):
    ...     name = "heartbeat"
    ...     topic = "topic_app_logs"
    ...     def generate(self, timestamps):
    ...         return [("svc", {"ts": ts}) for ts in timestamps]
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from lambdas.simulators.replay import ReplaySpec
from lambdas.simulators.world import World

Keyed = tuple[str, dict[str, Any]]  # (Kafka key, record)
REGISTRY: dict[str, type[Source]] = {}


class SourceOptions(BaseModel):
    """Per-source knobs from the scenario's ``sources.<name>.options`` (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class SourceContext:
    """What a source gets from the runner."""

    world: World
    stream: int = 0  # worker index: each worker walks its own sessions
    options: SourceOptions | None = None
    #: The OLTP hand-off (``OltpSource``) for sources whose steps write to the application's DB.
    desk: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """Base class: ``name`` (scenario key), ``topic`` (catalog topic), ``generate``.

    Class attributes a subclass may set:

    * ``default_sink`` — ``kafka`` (streams), ``gateway`` (client events), ``postgres`` (OLTP);
    * ``Options`` — a ``SourceOptions`` subclass validating ``sources.<name>.options``;
    * ``tick_s`` — wake at least this often even when no event is due (the OLTP lifecycle);
    * ``default_rate`` — events/s in the baseline traffic (scenarios with ``baseline: true``: the default
      one, ``burst``, ``faults``); None keeps the source out of it unless a scenario gives it a rate.
    """

    name: ClassVar[str]
    topic: ClassVar[str | None]
    default_sink: ClassVar[str] = "kafka"
    Options: ClassVar[type[SourceOptions]] = SourceOptions
    tick_s: ClassVar[float | None] = None
    default_rate: ClassVar[float | None] = None
    #: Whether the content is a pure function of seed + scenario (enters the run's content hash).
    deterministic: ClassVar[bool] = True
    #: Fields that change per emission in replay mode (``kafka.replay_pool``); None = live only.
    replay: ClassVar[ReplaySpec | None] = None
    #: Text fields new in (nearly) every record, besides the replay spec's fresh ids: an encoder hint.
    unique_text: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def unique_fields(cls) -> tuple[str, ...]:
        return (*(cls.replay.fresh if cls.replay else ()), *cls.unique_text)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    def __init__(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.stream = ctx.stream
        self.options = ctx.options if ctx.options is not None else self.Options()
        self.rng: random.Random = ctx.world.source_rng(self.name, ctx.stream)

    @abstractmethod
    def generate(self, timestamps: list[int]) -> list[Keyed]:
        """One record per timestamp (epoch millis, simulated), with its Kafka key."""

    def tick(self, now_ms: int) -> int:
        """Called on every wake-up of a ``tick_s`` source; returns how many operations it did."""
        return 0

    def stats(self) -> dict[str, int]:
        """Source-specific counters for the live display and the final report."""
        return {}

    def flush(self) -> list[Keyed]:
        """Records produced while closing (e.g. the OLTP drain's operation log), shipped before the sinks close."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the source holds (DB connections, …)."""
