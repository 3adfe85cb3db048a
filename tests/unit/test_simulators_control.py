"""Rates and schedules, scenarios and flags (errors name the key), the runner's counts, the Lambda burst."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas.simulators.__main__ import main
from lambdas.simulators.exceptions import ScenarioError, SimulatorError
from lambdas.simulators.handler import handler
from lambdas.simulators.rate import CURVES, Curve, Pacer, Schedule
from lambdas.simulators.runner import Runner
from lambdas.simulators.scenario import load_scenario, scenario_names
from lambdas.simulators.wiring import split_count

START = 1_748_764_800_000


# -- rates -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.05, 1.5, 1000.0, 123_456.7])
def test_flat_schedule_count_is_exact_at_any_rate(rate: float) -> None:
    s = Schedule(rate, Curve.flat(), START)
    total = 0
    for second in range(1, 61):
        total += len(s.take(until_s=float(second)))
        assert abs(total - rate * second) <= 0.5 + 1e-6  # the rounded integral: never drifts
    assert abs(s.expected(60.0) - total) <= 1


def test_schedule_timestamps_are_increasing_and_inside_the_window() -> None:
    s = Schedule(250.0, Curve.named("diurnal", 1.0), START)
    ts = s.take(until_s=30.0)
    assert ts == sorted(ts) and ts[0] >= START and ts[-1] <= START + 30_000
    assert Schedule(250.0, Curve.named("diurnal", 1.0), START).take(until_s=30.0) == ts  # deterministic


def test_diurnal_curve_has_mean_one_and_a_night_trough() -> None:
    assert sum(CURVES["diurnal"]) / 24 == pytest.approx(1.0)
    c = Curve.named("diurnal", 1.0, utc_offset_h=7.0)
    night = c.multiplier(START / 1000 + (3 - 15) * 3600)  # 03:00 local (START is 15:00 local)
    evening = c.multiplier(START / 1000 + (21 - 15) * 3600)
    assert night < 0.3 < 1.5 < evening
    assert Curve.named("diurnal", 0.1).multiplier(START / 1000) == pytest.approx(
        1 + 0.1 * (c.multiplier(START / 1000) - 1))


def test_default_scenario_reproduces_the_seed_baseline_rates() -> None:
    sc = load_scenario("default")
    per_minute = sc.total_rate() * 60
    assert 280 <= per_minute <= 350
    curve = Curve.named(sc.curve.shape, sc.curve.amplitude, sc.curve.utc_offset_h)
    swings = [per_minute * curve.multiplier(h * 3600.0) for h in range(24)]
    assert min(swings) >= 280 * 0.9 and max(swings) <= 350 * 1.1  # light and realistic across the day


def test_default_scenario_runs_every_source_at_its_declared_rate() -> None:
    """No scenario line per source: the class's ``default_rate`` puts it in the baseline scenarios."""
    from lambdas.simulators.sources import REGISTRY

    declared = {n: c.default_rate for n, c in REGISTRY.items() if c.default_rate is not None}
    assert declared  # the seed's sources declare theirs
    for name in ("default", "faults", "burst"):
        sc = load_scenario(name)
        assert {n: s.rate for n, s in sc.enabled().items()} == declared, name
    sc = load_scenario("default", ["sources.clickstream.rate=7", "sources.external.enabled=false",
                                   "sources.oltp.options.store=memory"])
    assert sc.sources["clickstream"].rate == 7 and "external" not in sc.enabled()
    assert sc.sources["oltp"].rate == declared["oltp"]  # options alone keep the declared rate
    assert set(load_scenario("load").sources) < set(REGISTRY)  # without `baseline`, only what it lists


def test_a_source_folder_outside_the_repository_registers_its_sources(tmp_path: Path) -> None:
    """``EB_SIMULATORS_SOURCE_DIRS``: every module of the folder is imported like the built-in ones."""
    from lambdas.simulators.sources import REGISTRY, discover

    (tmp_path / "outside_src.py").write_text(
        "from lambdas.simulators.sources.base import Source\n"
        "class Outside(Source):\n    name = 'outside_test'\n    topic = None\n"
        "    def generate(self, timestamps):\n        return []\n")
    try:
        assert discover((tmp_path,))["outside_test"].__name__ == "Outside"
        assert "outside_test" not in load_scenario("default").sources  # no default_rate: not in the baseline
    finally:
        REGISTRY.pop("outside_test", None)
    with pytest.raises(SimulatorError, match="is not a folder"):
        discover((tmp_path / "nope",))


def test_split_count_is_exact_across_sources_and_workers() -> None:
    shares = split_count(1000, {"a": 1.5, "b": 0.8, "c": 0.05})
    assert sum(shares.values()) == 1000 and shares["a"] > shares["b"] > shares["c"] > 0
    per_worker = [split_count(1001, {"a": 1.0, "b": 1.0}, workers=3, stream=w) for w in range(3)]
    assert sum(sum(p.values()) for p in per_worker) == 1001


# -- scenarios and flags -------------------------------------------------------------------------
@pytest.mark.parametrize(("overrides", "message"), [
    (["sources.mobile.rat=1"], "sources.mobile.rat: unknown key (did you mean rate?)"),
    (["sources.mobil.rate=1"], "sources.mobil: unknown source"),
    (["speed=fast"], "speed: Input should be 'realtime' or 'max'"),
    (["sources.web.options.concurrent_sesions=3"], "sources.web.options.concurrent_sesions: unknown key"),
    (["sources.oltp.options.store=mysql"], "sources.oltp.options.store"),
    (["curve.amplitude=2"], "curve.amplitude"),
    (["start=2025-06-01T08:00:00"], "start: Value error, needs a UTC offset"),
    (["sources.mobile.rate=-1"], "sources.mobile.rate"),
    (["workers"], "is not key.path=value"),
])
def test_bad_override_is_an_error_naming_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario("default", overrides)
    assert message in str(err.value)


def test_bad_scenario_file_names_the_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  mobile: {rate: 1, sinc: kafka}\nspeeed: max\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(str(bad))
    text = str(err.value)
    assert str(bad) in text and "sources.mobile.sinc: unknown key (did you mean sink?)" in text
    assert "speeed: unknown key (did you mean speed?)" in text
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(str(broken))
    with pytest.raises(ScenarioError, match="no scenario named 'nope'"):
        load_scenario("nope")


def test_every_shipped_scenario_is_valid() -> None:
    assert {"default", "burst", "load"} <= set(scenario_names())
    for name in scenario_names():
        assert load_scenario(name).enabled()


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--rate", "mobil=3"], "--rate mobil=3: unknown source 'mobil'"),
    (["run", "--rate", "mobile"], "expected SOURCE=EVENTS_PER_S"),
    (["run", "--only", "mobile,webb"], "--only: unknown source(s) webb"),
    (["run", "--set", "sources.mobile.options.pool=3"], "sources.mobile.options.pool: unknown key"),
    (["validate", "default", "--set", "count=0"], "count: Input should be greater than or equal to 1"),
])
def test_bad_flag_exits_2_with_a_message_naming_it(argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out and "scenarios" in out and "validate" in out


def test_cli_run_writes_jsonl_and_a_report(tmp_path: Path) -> None:
    out, report = tmp_path / "events.jsonl", tmp_path / "report.json"
    code = main(["run", "--sink", "jsonl", "--out", str(out), "--count", "500", "--speed", "max", "--seed", "4",
                 "--only", "mobile,clickstream,external", "--display", "off", "--report", str(report)])
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 500
    assert {line["topic"] for line in lines} == {"topic_app_events", "topic_clickstream", "topic_external_data"}
    doc = json.loads(report.read_text())
    assert doc["emitted"] == 500 and doc["seed"] == 4 and doc["undelivered"] == 0


class FakeClock:
    """A monotonic clock that moves only when slept on: the pacer's wall clock, without the waiting."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert len(self.slept) < 100_000, "the pacer never reached its target"
        self.slept.append(seconds)
        self.t += max(seconds, 0.0)


def test_pacer_sleeps_to_the_target_in_chunks_and_sees_a_stop_between_them() -> None:
    clock = FakeClock()
    pacer = Pacer(True, clock=clock, sleep=clock.sleep)
    assert pacer.wait_until(0.5, lambda: False) and pacer.elapsed() == pytest.approx(0.5)
    assert clock.slept == pytest.approx([0.2, 0.2, 0.1])
    asked = iter([False, True])
    assert not pacer.wait_until(5.0, lambda: next(asked))  # stopped after one 0.2 s chunk
    assert pacer.elapsed() == pytest.approx(0.7)
    assert Pacer(False, clock=clock, sleep=clock.sleep).wait_until(99.0, lambda: False) and clock.t == 0.7


def test_realtime_run_holds_the_rate_and_stops_at_the_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a fake wall clock: at every wake-up the source has emitted exactly what its schedule has due by
    then, and at the end exactly what is due by the duration (real-rate accuracy: make bench-simulators)."""
    import lambdas.simulators.runner as runner_module

    sc = load_scenario("default", ["sink=discard", "duration_s=1.5", "curve.amplitude=0", "users=100",
                                   "sources.oltp.enabled=false", "sources.mobile.rate=400", "sources.web.rate=0",
                                   "sources.clickstream.rate=0", "sources.app_logs.rate=0", "sources.external.rate=0"])
    clock, runner = FakeClock(), Runner(sc)
    runner.build()
    mobile = runner.runs["mobile"]
    due = Schedule(mobile.schedule.rate, Curve.flat(), START)  # a fresh copy: expected() of the same rate
    seen: list[tuple[float, int]] = []

    def sleep(seconds: float) -> None:
        seen.append((clock.t, mobile.emitted))  # what was emitted when the loop went to sleep
        clock.sleep(seconds)

    monkeypatch.setattr(runner_module, "Pacer", lambda realtime: Pacer(realtime, clock=clock, sleep=sleep))
    report = runner.run()
    assert report["sources"]["mobile"]["emitted"] == mobile.schedule.expected(1.5) == due.expected(1.5) == 600
    assert len(seen) >= 100 and all(emitted == due.expected(t) for t, emitted in seen)
    assert 1.5 <= clock.t <= 1.5 + runner_module.MIN_WAKE_S  # stopped at the duration, not a wake-up later


def test_gateway_sink_is_refused_for_non_app_sources() -> None:
    from lambdas.simulators.exceptions import SimulatorError

    with pytest.raises(SimulatorError, match="sources.clickstream.sink: gateway takes app events only"):
        Runner(load_scenario("default", ["sources.clickstream.sink=gateway", "sources.oltp.options.store=memory"])
               ).build()


def test_lambda_burst_is_reproducible_per_scheduled_minute() -> None:
    event = {"time": "2025-06-01T08:00:00Z", "count": 120, "sink": "discard",
             "overrides": ["sources.oltp.options.store=memory", "hash=true"]}
    a, b = handler(event, None), handler(dict(event), None)
    assert a["emitted"] == 120 and a["start_ms"] == START  # the scheduled minute is the simulated start
    assert a["content_sha256"] == b["content_sha256"] and a["seed"] == b["seed"]
    assert handler(dict(event, time="2025-06-01T08:01:00Z"), None)["content_sha256"] != a["content_sha256"]


def test_lambda_run_is_cut_to_the_invocations_remaining_time_minus_the_reserve() -> None:
    """The cut is the scenario's duration_s (the runner stops there: the realtime test above)."""
    from lambdas.simulators.handler import RESERVE_S, _overrides

    event = {"duration_s": 30, "sink": "discard",
             "overrides": ["sources.oltp.options.store=memory", "speed=realtime", "count=null"]}

    def duration(event: dict[str, object], remaining_s: float | None) -> float | None:
        return load_scenario("burst", _overrides(event, remaining_s)).duration_s

    assert RESERVE_S == 10.0 and duration(event, 12.5) == 2.5  # 30 s asked, 12.5 s left
    assert duration(dict(event, duration_s=1.5), 12.5) == 1.5  # a shorter run is kept
    assert duration(event, 5.0) == 1.0  # never below one second
    assert duration(event, None) == 30  # no context (the CLI burst): as asked


def test_lambda_handler_cuts_by_the_context_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import lambdas.simulators.handler as handler_module

    class Cut(Exception):
        pass

    class Planned(Runner):
        def run(self, on_tick: object = None, every_s: float = 2.0) -> dict[str, object]:
            raise Cut(self.scenario.duration_s)  # what would run, without running it

    class Ctx:
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 12_500

    monkeypatch.setattr(handler_module, "Runner", Planned)
    with pytest.raises(Cut) as cut:
        handler({"duration_s": 30, "sink": "discard", "overrides": ["sources.oltp.options.store=memory"]}, Ctx())
    assert cut.value.args == (2.5,)


def test_cli_burst_runs_the_lambda_handler_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["burst", "--time", "2025-06-01T08:00:00Z", "--sink", "discard", "--count", "40",
                 "--set", "sources.oltp.options.store=memory"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["emitted"] == 40 and out["start_ms"] == START and out["undelivered"] == 0
