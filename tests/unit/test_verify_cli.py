"""``python -m lambdas.verify`` end to end without a broker (the topic reads are replaced by crafted
records): exit 0 when every closed window matches, 1 naming the corrupted record, 2 without truth."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from eventbus.catalog import load_catalog
from eventbus.settings import Settings
from lambdas.simulators.scenario import TruthSpec
from lambdas.simulators.truth import JsonLinesPublisher, RunMeta, TruthRecorder
from lambdas.verify import run as verify_run
from lambdas.verify.__main__ import main
from lambdas.verify.expected import TruthSet, expected_outputs
from lambdas.verify.reading import Msg, Read, read_truth_file
from lambdas.verify.rules import Rules

T0 = 1_750_000_200_000
MIN = 60_000


def _truth(path: Path) -> None:
    rec = TruthRecorder(TruthSpec(enabled=True), load_catalog(), JsonLinesPublisher(str(path)),
                        RunMeta("r1", "test", 1, 0, "", T0))
    for i in range(20):
        rec.delivered("topic_app_events", {"event_id": f"e-{i}", "event_type": "search", "event_ts": T0 + i * MIN,
                                           "received_ts": T0 + i * MIN, "session_id": f"s-{i}", "platform": "ios",
                                           "destination": "Hue"})
    rec.close()


@pytest.fixture
def crafted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    truth = tmp_path / "truth.jsonl"
    _truth(truth)
    exp = expected_outputs(TruthSet.from_msgs(read_truth_file(truth)), Rules.load(),
                           now_ms=time.time_ns() // 1_000_000 + 3_600_000, grace_ms=0)
    topics: dict[str, list[Msg]] = {
        "topic_processed_events": [Msg(k, {"event_count": n, "metrics": m, "computed_ts": T0 + 301_000}, T0, 0, i)
                                   for i, (k, (n, m)) in enumerate(sorted(exp.values.items()))],
        "topic_booking_state": [], "topic_app_events": [], "topic_cdc_changes": []}
    monkeypatch.setattr(verify_run, "read_topic", lambda _s, topic, *_a, **_k: Read(topic, topics[topic]))
    monkeypatch.setenv("EB_VERIFY_RESULT_DIR", str(tmp_path / "out"))
    return {"truth": truth, "topics": topics, "out": tmp_path / "out"}


ARGS = ["--no-postgres", "--no-lake", "--grace", "0", "--hours", "0"]


def test_exit_0_when_every_closed_window_matches(crafted: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--truth-file", str(crafted["truth"]), *ARGS]) == 0
    out = capsys.readouterr().out
    assert "OK: every closed window and quiet booking matched" in out and "app event windows" in out
    last = json.loads((crafted["out"] / "last.json").read_text())
    assert last["ok"] and {r["output"]: r["compared"] for r in last["rows"]}["app event windows"] == 12


def test_exit_1_names_the_corrupted_record(crafted: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    msgs = crafted["topics"]["topic_processed_events"]
    key = next(m.key for m in msgs if m.key and m.key.endswith("destination=Hue"))
    msgs.append(Msg(key, {"event_count": 4, "metrics": {}, "computed_ts": T0}, T0, 0, 10_000))
    assert main(["--truth-file", str(crafted["truth"]), *ARGS]) == 1
    out = capsys.readouterr().out
    assert f"wrong {key}: expected 5, got 4" in out and "MISMATCH" in out


def test_exit_2_without_truth(tmp_path: Path, crafted: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["--truth-file", str(empty), *ARGS]) == 2
    assert "no truth" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # a flag out of range: argparse's usage error
        main(["--grace", "-1"])
    assert exc.value.code == 2


def test_latency_stages_come_from_the_records_timestamps() -> None:
    from lambdas.verify.latency import app_latency, cdc_latency

    app = [Msg("u", {"event_ts": T0 + 10_000, "received_ts": T0 + 10_100, "event_type": "search"}, T0 + 10_250, 0, 0)]
    out = [Msg("app_events|2025-06-15T15:10Z|event_type=search", {"computed_ts": ts}, ts, 0, i)
           for i, ts in enumerate((T0 + 5_000, T0 + 12_250, T0 + 302_000))]
    stages = {s.name: s for s in app_latency(app, out, Rules.load(), 300_000)}
    assert stages["app: event_ts -> received_ts (client->gateway)"].p50_ms == 100
    assert stages["app: received_ts -> Kafka append"].p50_ms == 150
    assert stages["app: Kafka append -> window row emitted"].p50_ms == 2_000  # the first emission after it
    assert stages["app: window end -> first emission after it"].p50_ms == 2_000
    cdc = [Msg("k", {"op": "u", "source": {"table": "bookings", "ts_ms": T0}, "after": {"booking_id": "bk-1"}},
               T0 + 40, 0, 0)]
    states = [Msg("bk-1", {"status": "confirmed"}, T0 + 5_040, 0, 0)]
    c = {s.name: s.p50_ms for s in cdc_latency(cdc, states)}
    assert c == {"cdc: commit -> Kafka append": 40, "cdc: Kafka append -> booking_state": 5_000}


@pytest.mark.parametrize(("line", "said"), [
    ('{"key": "a"', "line 2 is not JSON"),
    ('{"value": null}', 'line 2: expected an object with a string "key"'),
    ('{"key": "run|x", "value": [1]}', "line 2: \"value\" is list"),
    ('{"key": "run|x", "value": {"key": "run|x", "kind": "run"}}', "line 2: com.travel.events.Truth: field 'run_id'"),
], ids=["not-json", "no-key", "not-a-record", "not-the-schema"])
def test_a_bad_truth_file_line_is_one_line_and_exit_2(crafted: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                                      line: str, said: str) -> None:
    truth: Path = crafted["truth"]
    first = truth.read_text().splitlines()[0]
    truth.write_text(f"{first}\n{line}\n")
    assert main(["--truth-file", str(truth), *ARGS]) == 2
    err = capsys.readouterr().err
    assert said in err and str(truth) in err and err.count("\n") == 1


@pytest.mark.parametrize("flag", ["--grace", "--hours"])
@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_an_infinite_or_negative_duration_flag_is_refused(capsys: pytest.CaptureFixture[str], flag: str,
                                                          value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main([flag, value])
    assert exc.value.code == 2 and f"argument {flag}: '{value}' is not a number from 0 to" in capsys.readouterr().err


@pytest.mark.parametrize("var", ["EB_VERIFY_HOURS", "EB_VERIFY_GRACE_S", "EB_VERIFY_READ_TIMEOUT_S"])
def test_an_infinite_duration_setting_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                 var: str) -> None:
    monkeypatch.setenv(var, "inf")
    assert main([]) == 2
    assert f"{var}='inf'" in capsys.readouterr().err


def test_an_unwritable_json_path_is_refused_before_the_run(crafted: dict[str, Any], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    for path, said in ((tmp_path / "no" / "r.json", "does not exist"), (tmp_path, "is a folder")):
        with pytest.raises(SystemExit) as exc:
            main(["--truth-file", str(crafted["truth"]), *ARGS, "--json", str(path)])
        out, err = capsys.readouterr()
        assert exc.value.code == 2 and said in err and out == ""  # no table: nothing ran
        assert not (crafted["out"] / "last.json").exists()


def test_an_unknown_watermark_unit_names_the_setting_and_the_units(
        crafted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("10 parsecs", "ten minutes", "inf minutes"):
        monkeypatch.setenv("EB_SPARK_WATERMARK", bad)
        assert main(["--truth-file", str(crafted["truth"]), *ARGS]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: EB_SPARK_WATERMARK={bad!r} (setting watermark): {bad!r} is not a duration")
        assert "minute(s)" in err


def test_an_unwritable_result_folder_is_one_line_and_exit_2(crafted: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("EB_VERIFY_RESULT_DIR", str(tmp_path / "a-file" / "verify"))
    assert main(["--truth-file", str(crafted["truth"]), *ARGS]) == 2
    assert "cannot write the result to" in capsys.readouterr().err


class _SilentConsumer:
    """A broker that holds records (offsets lo..hi of partition 0) and never hands one over."""

    def __init__(self, lo: int) -> None:
        self.lo = lo
        self.give_up = time.monotonic() + 5  # a reader that ignores the read timeout fails here, not in minutes

    def list_topics(self, topic: str, timeout: float) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions={0: None})})

    def get_watermark_offsets(self, _tp: Any, timeout: float) -> tuple[int, int]:
        return self.lo, 100

    def offsets_for_times(self, tps: list[Any], timeout: float) -> list[Any]:
        from confluent_kafka import TopicPartition

        return [TopicPartition(tp.topic, tp.partition, self.lo + 10) for tp in tps]

    def assign(self, _tps: list[Any]) -> None:
        pass

    def consume(self, _n: int, timeout: float) -> list[Any]:
        assert time.monotonic() < self.give_up, "still reading 5 s on: EB_VERIFY_READ_TIMEOUT_S=0.3 ignored"
        time.sleep(min(timeout, 0.01))  # the broker's wait (a real consume() blocks up to its timeout)
        return []

    def close(self) -> None:
        pass


@pytest.mark.parametrize("lo", [0, 5], ids=["records", "first-held-record"])
def test_a_lake_read_that_does_not_finish_is_an_error_within_the_read_timeout(
        crafted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        lo: int) -> None:
    from lambdas.verify import lake, rules

    crafted["topics"]["topic_dead_letter"] = []
    monkeypatch.setattr(lake, "make_consumer", lambda *_a, **_k: _SilentConsumer(lo))
    monkeypatch.setattr(rules, "lake_root", lambda: str(tmp_path / "lake"))
    monkeypatch.setenv("EB_VERIFY_READ_TIMEOUT_S", "0.3")
    t0 = time.monotonic()
    assert main(["--truth-file", str(crafted["truth"]), "--no-postgres", "--grace", "0", "--hours", "0"]) == 2
    err = capsys.readouterr().err
    assert "to its end within 0.3 s" in err and "raise EB_VERIFY_READ_TIMEOUT_S" in err
    assert time.monotonic() - t0 < 5  # the setting, not the 10 s / 120 s defaults


def test_a_partition_read_to_its_end_is_done_not_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from confluent_kafka import KafkaError

    from lambdas.verify import lake

    eof = SimpleNamespace(error=lambda: KafkaError(KafkaError._PARTITION_EOF), partition=lambda: 0)
    consumer = _SilentConsumer(5)
    monkeypatch.setattr(consumer, "consume", lambda _n, timeout: [eof])
    monkeypatch.setattr(lake, "make_consumer", lambda *_a, **_k: consumer)
    # retention emptied the partition (log start = end): nothing held, nothing to wait for
    assert lake._first_records(Settings(profile="local"), "t", {0: 5}, timeout_s=30) == []
