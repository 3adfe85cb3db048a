"""Every exception the simulators raise. Messages say what happened and what to do."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of the simulators' errors."""


class ScenarioError(SimulatorError, ValueError):
    """A scenario file or a command-line override is invalid; the message names the key."""


class IllegalTransitionError(SimulatorError):
    """A booking or payment state change that the lifecycle does not allow (a bug, never data)."""


class StoreUnavailableError(SimulatorError):
    """PostgreSQL could not be reached within the retry budget."""


class SinkError(SimulatorError):
    """A sink could not deliver and gave up (after retrying with backoff)."""


class UndeliveredError(SimulatorError):
    """At shutdown some events were not acknowledged by their sink; ``counts`` says how many per sink."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        detail = ", ".join(f"{name}: {n}" for name, n in counts.items())
        super().__init__(f"{sum(counts.values())} event(s) not delivered ({detail})")
