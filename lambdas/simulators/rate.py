"""Rates: a time-of-day curve and a deterministic schedule that a pacer holds to the wall clock.

The schedule cuts simulated time into fixed steps (10 ms) and, for each step, says how many events are
due: ``floor(C(t_end)) - floor(C(t_start))`` where ``C`` is the integral of ``rate x curve``. So the count
after ``t`` seconds is exact (never drifts), and every event gets a timestamp inside its step — the
event's simulated time, independent of how fast the machine is. The pacer (``Pacer``) then releases each
step when the wall clock reaches it (``speed: realtime``) or at once (``speed: max``); if a sink stalls, the
backlog is released as fast as the sink takes it (the bucket refills at the rate, so the long-run count
is held — that is the token bucket).

    >>> from lambdas.simulators.rate import Curve, Schedule
    >>> s = Schedule(rate=1000.0, curve=Curve.flat(), start_ms=0)
    >>> sum(len(s.next_step()[1]) for _ in range(100))   # one simulated second
    1000
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

STEP_S = 0.01
#: Relative traffic per local hour of a Vietnamese travel app: quiet 1-6 am, a late-morning peak,
#: a lunch dip, and the evening peak (20-22h) when people plan trips. Mean over the day is 1.
_DIURNAL = (0.45, 0.28, 0.18, 0.14, 0.15, 0.27, 0.55, 0.85, 1.10, 1.28, 1.40, 1.36,
            1.10, 1.16, 1.24, 1.22, 1.16, 1.12, 1.20, 1.45, 1.68, 1.72, 1.38, 0.86)
_DIURNAL_MEAN = sum(_DIURNAL) / 24
CURVES = {"flat": (1.0,) * 24, "diurnal": tuple(v / _DIURNAL_MEAN for v in _DIURNAL)}


@dataclass(frozen=True)
class Curve:
    """Rate multiplier by local hour of day, linearly interpolated; ``amplitude`` blends it with flat.

    ``multiplier = 1 + amplitude x (shape(hour) - 1)``: amplitude 0 is flat, 1 the full shape.
    """

    shape: tuple[float, ...]
    amplitude: float = 1.0
    utc_offset_h: float = 7.0  # Asia/Ho_Chi_Minh

    @classmethod
    def flat(cls) -> Curve:
        return cls(CURVES["flat"], 0.0)

    @classmethod
    def named(cls, name: str, amplitude: float = 1.0, utc_offset_h: float = 7.0) -> Curve:
        return cls(CURVES[name], amplitude, utc_offset_h)

    def multiplier(self, epoch_s: float) -> float:
        if self.amplitude == 0.0:
            return 1.0
        hour = ((epoch_s / 3600.0) + self.utc_offset_h) % 24.0
        i = int(hour)
        frac = hour - i
        shaped = self.shape[i] * (1.0 - frac) + self.shape[(i + 1) % 24] * frac
        return 1.0 + self.amplitude * (shaped - 1.0)


class Schedule:
    """The due events of one source, step by step, in simulated time (deterministic)."""

    __slots__ = ("_c", "_due", "_flat", "curve", "rate", "start_ms", "step", "t")

    def __init__(self, rate: float, curve: Curve, start_ms: int, step_s: float = STEP_S) -> None:
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a finite number >= 0, got {rate}")
        self.rate, self.curve, self.start_ms, self.step = rate, curve, start_ms, step_s
        self._flat = curve.amplitude == 0.0
        self.t = 0  # steps done
        self._c = 0.0  # integral of the rate so far (events)
        self._due = 0  # events released so far

    @property
    def elapsed_s(self) -> float:
        """Simulated seconds covered by the steps released so far."""
        return self.t * self.step

    @property
    def released(self) -> int:
        return self._due

    def next_step(self) -> tuple[float, list[int]]:
        """Advance one step: (simulated end of the step in seconds, timestamps (ms) of its events)."""
        t0 = self.t * self.step
        self.t += 1
        if self._flat:
            self._c = self.rate * self.t * self.step  # exact: no accumulated float error
        else:
            mid_epoch = self.start_ms / 1000.0 + t0 + self.step / 2
            self._c += self.rate * self.curve.multiplier(mid_epoch) * self.step
        n = int(self._c) - self._due
        if n <= 0:
            return t0 + self.step, []
        self._due += n
        base = self.start_ms + t0 * 1000.0
        spacing = self.step * 1000.0 / n
        return t0 + self.step, [int(base + spacing * (k + 0.5)) for k in range(n)]

    def current_rate(self) -> float:
        """Target events/s right now (rate x curve at the current simulated time)."""
        return self.rate * self.curve.multiplier(self.start_ms / 1000.0 + self.t * self.step)


class Pacer:
    """Holds simulated time to the wall clock (``realtime``) or lets it run free (``max``).

    ``wait_until(sim_s)`` sleeps until ``sim_s`` seconds of wall time have passed since ``start`` (or
    until ``stop()`` returns True); the sleep is chopped so a stop request is seen within 0.2 s.
    """

    def __init__(self, realtime: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.realtime = realtime
        self.clock = clock
        self.started = clock()

    def lag_s(self, sim_s: float) -> float:
        """How far simulated time is behind the wall clock (positive = behind, i.e. catching up)."""
        return (self.clock() - self.started) - sim_s

    def wait_until(self, sim_s: float, stop: Callable[[], bool]) -> bool:
        """Sleep until the wall clock reaches ``sim_s``; False when ``stop()`` interrupted the wait."""
        if not self.realtime:
            return not stop()
        while True:
            ahead = sim_s - (self.clock() - self.started)
            if ahead <= 0:
                return True
            if stop():
                return False
            time.sleep(min(ahead, 0.2))
