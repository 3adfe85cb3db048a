"""``python -m lambdas.simulators run``: bad flags and unusable paths are one line and exit 2 before the run
starts (README: 2 bad scenario/flags, 1 undelivered) — never a traceback, never after the whole run."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdas.simulators.__main__ import main
from lambdas.simulators.exceptions import ScenarioError
from lambdas.simulators.runner import Runner
from lambdas.simulators.sinks import JsonLinesSink

QUICK = ["--sink", "discard", "--only", "mobile", "--count", "5", "--speed", "max", "--display", "off"]


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that starts fails the test: the checks must come first."""
    def run(*_a: Any, **_k: Any) -> dict[str, Any]:
        raise AssertionError("the run started before the bad flag was refused")

    monkeypatch.setattr(Runner, "run", run)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-2", "x"])
def test_scale_is_a_finite_number_above_0(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", f"--scale={value}", *QUICK])
    assert exc.value.code == 2 and f"argument --scale: '{value}' is not a" in capsys.readouterr().err


def test_a_scaled_rate_is_held_to_the_rate_bound(no_run: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--scale", "1e300", *QUICK]) == 2
    assert "sources.mobile.rate: Input should be less than or equal to 10000000" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "said"), [
    (["--report", "{tmp}/no/r.json"], "--report {tmp}/no/r.json: folder {tmp}/no does not exist"),
    (["--report", "{tmp}"], "--report {tmp}: is a folder"),
    (["--sink", "jsonl", "--out", "{tmp}/no/x.jsonl"], "file.path (--out) {tmp}/no/x.jsonl: folder {tmp}/no does not"),
    (["--set", "truth.enabled=true", "--set", "truth.sink=jsonl", "--set", "truth.path={tmp}/no/t.jsonl"],
     "truth.path {tmp}/no/t.jsonl: folder"),
    (["--set", "sources.clickstream.sink=gateway", "--only", "clickstream"],
     "sources.clickstream.sink: gateway takes app events only"),
], ids=["report-folder", "report-is-a-folder", "out-folder", "truth-folder", "sink-misfit"])
def test_an_unusable_path_or_sink_is_refused_before_the_run(no_run: None, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str], flags: list[str],
                                                            said: str) -> None:
    argv = ["run", *QUICK, *(f.format(tmp=tmp_path) for f in flags)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said.format(tmp=tmp_path) in err and "Traceback" not in err


def test_a_jsonl_sink_that_cannot_open_its_file_says_so() -> None:
    with pytest.raises(ScenarioError, match="file.path .*: cannot open"):
        JsonLinesSink(Path("/nonexistent-folder/x.jsonl"))


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_status_port_is_0_or_a_port_that_can_be_bound(taken_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--status-port", "99999", *QUICK])
    assert exc.value.code == 2 and "argument --status-port: '99999' is not 0 (off) or a port number (1-65535)" \
        in capsys.readouterr().err
    assert main(["run", "--status-port", str(taken_port), *QUICK]) == 2
    assert f"--status-port {taken_port}: cannot listen on 127.0.0.1:{taken_port}" in capsys.readouterr().err
