"""Runs a scenario: one thread per source, each paced by its own schedule and shipping to its sink.

    >>> from lambdas.simulators.runner import Runner
    >>> from lambdas.simulators.scenario import load_scenario
    >>> report = Runner(load_scenario("default", ["duration_s=10"])).run()
    >>> report["sources"]["mobile"]["emitted"]

Determinism: a source's records are a pure function of (seed, scenario, start, worker index). Time in
records is *simulated* — the schedule's timestamp of each event — so ``--seed 7 --start
2025-06-01T08:00:00Z`` reproduces every byte (``hash: true`` prints a SHA-256 per source). The OLTP
source is excluded from the hash: its operation log depends on database timing.

Several processes: ``workers.run_workers`` starts N of these, each with 1/N of every rate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from eventbus.settings import Settings, get_settings
from lambdas.simulators.exceptions import SimulatorError
from lambdas.simulators.rate import Curve, Pacer, Schedule
from lambdas.simulators.scenario import Scenario, source_options
from lambdas.simulators.sinks import KafkaSink, Sink
from lambdas.simulators.sources import REGISTRY, Source, SourceContext
from lambdas.simulators.wiring import make_faults, make_sink, make_store, make_truth, sink_kind, split_count
from lambdas.simulators.world import World

log = logging.getLogger("simulators.runner")
#: Events generated and shipped per loop iteration at full speed.
_BATCH = 2000
#: In real time, a source wakes at most this often (events due in between go out as one batch).
MIN_WAKE_S = 0.01


@dataclass
class SourceRun:
    name: str
    source: Source
    sink: Sink
    topic: str | None
    schedule: Schedule
    limit: int | None
    emitted: int = 0
    ops: int = 0
    hasher: Any = None
    replay: Any = None  # a ReplayPool in replay mode
    faults: Any = None  # a FaultInjector (faults.py) when the scenario injects faults into this source
    error: BaseException | None = None
    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Runner:
    def __init__(self, scenario: Scenario, settings: Settings | None = None, *, stream: int = 0, workers: int = 1,
                 seed: int | None = None, start_ms: int | None = None, sinks: dict[str, Sink] | None = None,
                 store: Any = None) -> None:
        self.scenario = scenario
        self.settings = settings or get_settings()
        self.stream, self.workers = stream, workers
        self.seed = seed if seed is not None else (scenario.seed if scenario.seed is not None else _random_seed())
        self.start_ms = start_ms if start_ms is not None else scenario.start_ms()
        self.realtime = scenario.speed == "realtime"
        self._stop = threading.Event()
        self._producers_done = threading.Event()
        self._sinks: dict[str, Sink] = dict(sinks or {})
        self._store = store
        self.runs: dict[str, SourceRun] = {}
        self.truth: Any = None  # TruthRecorder (truth.py) when scenario.truth.enabled
        self.future_ids: set[str] = set()  # ids the fault injector dated beyond the skew
        self.pacer: Pacer | None = None
        self.started_wall = 0.0
        self.finished_wall = 0.0
        self.flushed_wall = 0.0

    # -- building ------------------------------------------------------------------------------
    def _sink(self, kind: str) -> Sink:
        if kind not in self._sinks:
            self._sinks[kind] = make_sink(kind, self.scenario, self.settings, self.workers, self.stream)
        return self._sinks[kind]

    def build(self) -> None:
        sc = self.scenario
        world = World(self.seed, users=sc.users)
        curve = Curve.named(sc.curve.shape, sc.curve.amplitude, sc.curve.utc_offset_h)
        enabled = sc.enabled()
        limits = split_count(sc.count, {n: s.rate for n, s in enabled.items()}, self.workers, self.stream) \
            if sc.count else {}
        extras = {"start_ms": self.start_ms}
        desk = None
        # The OLTP source first: the journey sources hand it their bookings.
        for name in sorted(enabled, key=lambda n: n != "oltp"):
            spec = enabled[name]
            cls = REGISTRY[name]
            options = source_options(sc, name)
            ctx_extras = dict(extras)
            if name == "oltp":
                ctx_extras["store"] = self._store if self._store is not None else make_store(options, self.settings)
            kind = sink_kind(sc, name, cls, spec.sink)
            replaying = bool(sc.kafka.replay_pool) and kind == "kafka" and cls.replay is not None
            source = cls(SourceContext(world=world, stream=self.stream, options=options,
                                       desk=None if replaying else desk, extras=ctx_extras))
            if name == "oltp":
                desk = source
            sink = self._sink(kind)
            pool = None
            if isinstance(sink, KafkaSink) and cls.topic:
                sink.encoder_for(cls.topic, cls.unique_fields())  # registers the schema now: fails fast
                if replaying:
                    from lambdas.simulators.replay import ReplayPool

                    pool = ReplayPool(source, sink.serde.catalog.get(cls.topic).schema_text,
                                      sink.serde.header(cls.topic), sc.kafka.replay_pool, self.start_ms)
            hasher = hashlib.sha256() if sc.hash and cls.deterministic and pool is None else None
            self.runs[name] = SourceRun(name, source, sink, cls.topic, Schedule(spec.rate / self.workers, curve,
                                        self.start_ms), limits.get(name), hasher=hasher, replay=pool,
                                        faults=self._faults(name, cls.topic))
        self._wire_truth()
        if desk is None and any(getattr(r.source, "desk", "x") is None and r.sink.name == "gateway"
                                for r in self.runs.values()):
            log.warning("the oltp source is disabled: bookings in app events will not exist in PostgreSQL")

    def _faults(self, name: str, topic: str | None) -> Any:
        return make_faults(self.scenario, self.settings, name, topic, self.seed, self.stream, self.future_ids)

    def _wire_truth(self) -> None:
        """The truth recorder on every sink (truth.py), and the planned refusals of the fault injector."""
        for sink in self._sinks.values():
            sink.planned_refusals = self.future_ids
        self.truth = make_truth(self.scenario, self.settings, list(self._sinks.values()),
                                any(r.replay is not None for r in self.runs.values()), self.seed, self.stream,
                                self.workers, self.start_ms)
        for sink in self._sinks.values():
            sink.tap = self.truth

    # -- running -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask every loop to finish (signal handlers call this); blocked sinks give up and count."""
        self._stop.set()
        for sink in self._sinks.values():
            sink.stopping.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _loop(self, runs: list[SourceRun], body: Any) -> None:
        try:
            body()
        except BaseException as exc:  # a source or sink bug stops the whole run, loudly
            failed = next((r for r in runs if r.name == getattr(exc, "source", None)), runs[0])
            failed.error = exc
            log.exception("source %s failed", failed.name)
            self.stop()
        finally:
            for r in runs:
                r.done.set()

    def _emit(self, r: SourceRun, ts: list[int], ticked: bool) -> None:
        """Generate (or replay) the records of ``ts`` and ship them to the source's sink."""
        try:
            if r.replay is not None:
                if ts:
                    r.sink.send_encoded(r.topic, r.replay.take(ts))  # type: ignore[attr-defined]
                    r.emitted += len(ts)
                return
            if not ts and not ticked:
                return
            records = r.source.generate(ts)
            r.emitted += len(ts)
            if r.hasher is not None:
                update = r.hasher.update
                for _, rec in records:
                    update(json.dumps(rec, sort_keys=True, separators=(",", ":"), default=str).encode() + b"\n")
            if r.faults is not None:
                records = r.faults.apply(r.topic, records)
            if records:
                r.sink.send(r.topic, records)
        except BaseException as exc:
            exc.source = r.name  # type: ignore[attr-defined]
            raise

    def _pace(self, r: SourceRun) -> None:
        """One source on its own thread: real time, or a tick source (OLTP) at any speed."""
        sched, src, stop, pacer = r.schedule, r.source, self._stop, self.pacer
        assert pacer is not None
        tick_s, next_tick = src.tick_s, 0.0
        duration, realtime = self.scenario.duration_s, self.realtime
        if sched.rate == 0 and tick_s is None:
            return
        while not stop.is_set():
            now = pacer.elapsed()
            over = duration is not None and now >= duration
            if over and not realtime:
                return
            horizon = (min(now, duration) if duration is not None else now) if realtime else math.inf
            left = None if r.limit is None else r.limit - r.emitted
            if left is not None and left <= 0:
                if tick_s is None or self._producers_done.is_set():
                    return
                ts: list[int] = []
            else:
                ts = sched.take(horizon, _BATCH if left is None else min(_BATCH, left))
            sim_now = horizon if realtime else sched.last_s
            due_tick = tick_s is not None and sim_now >= next_tick
            if due_tick:
                next_tick = sim_now + tick_s  # type: ignore[operator]
                r.ops += src.tick(self.start_ms + int(sim_now * 1000))
            self._emit(r, ts, due_tick)
            if realtime:
                if over:
                    return
                # Sleep to the next event (or tick, or the end); wake at most every MIN_WAKE_S so a high rate
                # goes out in batches rather than one wake-up per event.
                wake = min(sched.next_due_s(now + 3600), next_tick if tick_s is not None else math.inf,
                           duration if duration is not None else math.inf)
                if not pacer.wait_until(max(wake, now + MIN_WAKE_S), stop.is_set):
                    return
            elif not ts:
                stop.wait(0.005)  # at its count limit, ticking until the journeys end: don't spin

    def _full_speed(self, runs: list[SourceRun]) -> None:
        """Every non-tick source on one thread at full speed, in step: the simulated clock advances by
        slices of ~``_BATCH`` events and each source emits what falls in the slice. The mix keeps its
        proportions, the streams stay aligned in time, and no GIL is fought over."""
        stop, pacer, duration = self._stop, self.pacer, self.scenario.duration_s
        assert pacer is not None
        active = [r for r in runs if r.schedule.rate > 0]
        total = sum(r.schedule.rate for r in active) or 1.0
        slice_s, horizon = _BATCH / total, 0.0
        while active and not stop.is_set():
            if duration is not None and pacer.elapsed() >= duration:
                return
            horizon += slice_s
            for r in list(active):
                left = None if r.limit is None else r.limit - r.emitted
                if left is not None and left <= 0:
                    active.remove(r)
                    r.done.set()
                    continue
                cap = _BATCH * 4 if left is None else min(_BATCH * 4, left)
                self._emit(r, r.schedule.take(horizon, cap), False)

    def start(self) -> None:
        if not self.runs:
            self.build()
        if not self.runs:
            raise SimulatorError("no source is enabled in the scenario")
        self.pacer = Pacer(self.realtime)
        self.started_wall = time.monotonic()
        if self.truth is not None:
            self.truth.start()
        together = [r for r in self.runs.values() if not self.realtime and r.source.tick_s is None]
        if together:
            thread = threading.Thread(target=self._loop, args=(together, lambda: self._full_speed(together)),
                                      name="sim-full-speed", daemon=True)
            for r in together:
                r.thread = thread
            thread.start()
        for r in self.runs.values():
            if not any(r is t for t in together):
                r.thread = threading.Thread(target=self._loop, args=([r], lambda r=r: self._pace(r)),
                                            name=f"sim-{r.name}", daemon=True)
                r.thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the non-tick sources to finish; then let the tick sources (OLTP) stop. True when done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        producers = [r for r in self.runs.values() if r.source.tick_s is None]
        for r in producers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not r.done.wait(left):
                return False
        self._producers_done.set()  # a tick source (OLTP) at its count limit may stop now
        for r in self.runs.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not r.done.wait(left):
                return False
        return True

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "elapsed_s": now - self.started_wall if self.started_wall else 0.0,
            "sources": {n: {"emitted": r.emitted, "ops": r.ops, "target_rate": r.schedule.current_rate(),
                            "lag_s": self._lag(r), "sink": r.sink.name, **r.source.stats()}
                        for n, r in self.runs.items()},
            "sinks": {s.name: s.counters() for s in self._sinks.values()},
        }

    def _lag(self, r: SourceRun) -> float:
        """Seconds the source is behind its schedule (a slow or stalled sink), real time only."""
        if not (self.pacer and self.realtime) or r.done.is_set():
            return 0.0
        due = r.schedule.next_due_s(self.pacer.elapsed() + 1)
        return max(0.0, self.pacer.elapsed() - due) if math.isfinite(due) else 0.0

    def close(self) -> dict[str, Any]:
        """Stop the loops, close the sources (OLTP drain), flush the sinks; the run's report."""
        self._producers_done.set()
        self._stop.set()
        for r in self.runs.values():
            if r.thread is not None:
                r.thread.join()
        self.finished_wall = time.monotonic()
        for r in self.runs.values():
            try:
                r.source.close()
                leftover = r.source.flush()
                if leftover:
                    r.sink.stopping.clear()  # shipped even after a stop request (then counted if it fails)
                    r.sink.send(r.topic, leftover)
            except Exception as exc:
                log.error("closing source %s: %s", r.name, exc)
                r.error = r.error or exc
        flush_s = self.scenario.kafka.flush_timeout_s
        sinks = {s.name: s.close(flush_s) for s in self._sinks.values()}
        if self.truth is not None:  # after the sinks: every delivery report is in
            try:
                self.truth.close()
            except Exception as exc:
                log.error("truth: the final publish failed: %s", exc)
                self.truth.n["publish_errors"] += 1
        self.flushed_wall = time.monotonic()
        return self.report(sinks)

    def report(self, sinks: dict[str, dict[str, int]]) -> dict[str, Any]:
        elapsed = max(1e-9, self.finished_wall - self.started_wall)
        sources = {}
        for n, r in self.runs.items():
            sources[n] = {"emitted": r.emitted, "ops": r.ops, "rate": r.emitted / elapsed,
                          "target_rate": r.schedule.rate, "sink": r.sink.name, **r.source.stats()}
            if self.realtime and r.limit is None:  # what the curve asked for over this run
                sources[n]["expected"] = r.schedule.expected(elapsed)
            if r.hasher is not None:
                sources[n]["sha256"] = r.hasher.hexdigest()
            if r.error is not None:
                sources[n]["error"] = f"{type(r.error).__name__}: {r.error}"
            if r.faults is not None:
                sources[n].update(r.faults.stats())
        hashes = {n: str(s["sha256"]) for n, s in sources.items() if "sha256" in s}
        undelivered = sum(c.get("failed", 0) + c.get("rejected", 0) for c in sinks.values())
        errors = [s["error"] for s in sources.values() if "error" in s]
        truth = None
        if self.truth is not None:
            truth = {"run_id": self.truth.meta.run_id, "ended": self.truth.ended, **self.truth.stats()}
            if not self.truth.ended:  # mid-run failures are re-sent by the next round; the last one is not
                errors.append(f"truth of run {truth['run_id']} not fully published — make verify will say which "
                              "windows it cannot check")
        return {
            "scenario": self.scenario.name, "seed": self.seed, "start_ms": self.start_ms, "stream": self.stream,
            "workers": self.workers, "speed": self.scenario.speed, "elapsed_s": elapsed,
            "flushed_s": max(elapsed, self.flushed_wall - self.started_wall),  # until the last ack
            "emitted": sum(r.emitted for r in self.runs.values()),
            "sources": sources, "sinks": sinks, "undelivered": undelivered,
            "errors": errors, "truth": truth,
            "content_sha256": combined_hash(hashes) if hashes else None,
        }

    def run(self, on_tick: Any = None, every_s: float = 2.0) -> dict[str, Any]:
        """Start, wait (calling ``on_tick(snapshot)`` every ``every_s``), close; the report."""
        self.start()
        try:
            while not self.wait(timeout=every_s):
                if on_tick is not None:
                    on_tick(self.snapshot())
        except KeyboardInterrupt:
            self.stop()
        return self.close()


def combined_hash(hashes: dict[str, str]) -> str:
    """One SHA-256 over the per-source (and per-worker) hashes, in name order."""
    return hashlib.sha256("".join(f"{k}={v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()


def _random_seed() -> int:
    import secrets

    return secrets.randbits(32)
