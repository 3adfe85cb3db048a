"""Rates: a time-of-day curve and a deterministic schedule that a pacer holds to the wall clock.

The schedule integrates ``rate x curve`` over one-second segments (the curve is evaluated at each
segment's middle, so the rate is piecewise constant) and places event ``k`` where the integral reaches
``k + 0.5``. So the count after ``t`` seconds is exact (never drifts) and every event has its own
*simulated* timestamp, independent of how fast the machine is. The runner releases the events that are
due when the wall clock reaches them (``speed: realtime``) or as fast as the sinks take them (``max``).
If a sink stalls, the backlog is released as soon as it is free again: like a token bucket whose
tokens keep accruing, the long-run count is held.

    >>> from lambdas.simulators.rate import Curve, Schedule
    >>> s = Schedule(rate=1000.0, curve=Curve.flat(), start_ms=0)
    >>> len(s.take(until_s=1.0))          # one simulated second
    1000
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

SEGMENT_S = 1.0
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
    """The events of one source in simulated time: ``take(until_s)`` returns their timestamps (ms)."""

    __slots__ = ("_c0", "_seg", "_seg_rate", "curve", "k", "last_s", "rate", "segment_s", "start_ms")

    def __init__(self, rate: float, curve: Curve, start_ms: int, segment_s: float = SEGMENT_S) -> None:
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a finite number >= 0, got {rate}")
        self.rate, self.curve, self.start_ms, self.segment_s = rate, curve, start_ms, segment_s
        self.k = 0  # events released so far
        self.last_s = 0.0  # simulated time of the last released event
        self._seg = 0  # current segment
        self._c0 = 0.0  # integral of the rate at the start of the current segment (events)
        self._seg_rate = self._rate_of(0)

    def _rate_of(self, seg: int) -> float:
        mid_epoch_s = self.start_ms / 1000.0 + (seg + 0.5) * self.segment_s
        return self.rate * self.curve.multiplier(mid_epoch_s)

    def next_due_s(self, horizon_s: float = math.inf) -> float:
        """Simulated time of the next event (``inf`` when the rate is 0 or it is beyond ``horizon_s``)."""
        target = self.k + 0.5
        seg, c0, r = self._seg, self._c0, self._seg_rate
        while c0 + r * self.segment_s < target:
            c0 += r * self.segment_s
            seg += 1
            if seg * self.segment_s > horizon_s or (r == 0.0 and self.rate == 0.0):
                return math.inf
            r = self._rate_of(seg)
        return seg * self.segment_s + (target - c0) / r

    def take(self, until_s: float = math.inf, max_n: int = 1_000_000) -> list[int]:
        """Timestamps (epoch ms) of the next events due at or before ``until_s``, at most ``max_n``."""
        out: list[int] = []
        if self.rate == 0.0:
            return out
        seg_len, start = self.segment_s, self.start_ms
        seg, c0, r = self._seg, self._c0, self._seg_rate
        end_c = c0 + r * seg_len
        k = self.k
        t = self.last_s
        while len(out) < max_n:
            target = k + 0.5
            while end_c < target:  # move to the segment holding event k
                if (seg + 1) * seg_len > until_s:
                    self._seg, self._c0, self._seg_rate, self.k, self.last_s = seg, c0, r, k, t
                    return out
                seg += 1
                c0 = end_c
                r = self._rate_of(seg)
                end_c = c0 + r * seg_len
            t = seg * seg_len + (target - c0) / r
            if t > until_s:
                break
            out.append(start + int(t * 1000.0))
            k += 1
        self._seg, self._c0, self._seg_rate, self.k = seg, c0, r, k
        if out:
            self.last_s = (out[-1] - start) / 1000.0
        return out

    def expected(self, t_s: float) -> int:
        """How many events are due by simulated time ``t_s`` (what a perfect pacer would have released)."""
        c, seg = 0.0, 0
        while (seg + 1) * self.segment_s <= t_s:
            c += self._rate_of(seg) * self.segment_s
            seg += 1
        c += self._rate_of(seg) * (t_s - seg * self.segment_s)
        return int(c + 0.5)

    def current_rate(self) -> float:
        """Target events/s at the current simulated time (rate x curve)."""
        return self._seg_rate


class Pacer:
    """Holds simulated time to the wall clock (``realtime``) or lets it run free (``max``).

    ``wait_until(sim_s)`` sleeps until ``sim_s`` seconds of wall time have passed since ``start`` (or
    until ``stop()`` returns True); the sleep is chopped so a stop request is seen within 0.2 s. ``clock`` and
    ``sleep`` are the wall clock's (tests pass a fake pair, so pacing is checked without waiting).
    """

    def __init__(self, realtime: bool, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.realtime = realtime
        self.clock = clock
        self.sleep = sleep
        self.started = clock()

    def elapsed(self) -> float:
        """Wall-clock seconds since the pacer started."""
        return self.clock() - self.started

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
            self.sleep(min(ahead, 0.2))
