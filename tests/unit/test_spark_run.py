"""The driver's stop path (``emr_jobs.run``): a SIGTERM that reaches the JVM too (the stack stops the
process group) while the queries are still being built is a stop, not a failure; without a signal the
same lost JVM is one line that says so. The JVM's side is py4j's own error for an unanswered call."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pyspark  # noqa: F401  # the spark extra (make test installs it): missing fails collection, never skips
import pytest
from py4j.protocol import ERROR, Py4JError, get_return_value

import emr_jobs.session
from emr_jobs import run as driver
from emr_jobs.config import SparkSettings
from emr_jobs.errors import one_line
from eventbus.settings import Settings


def _jvm_gone() -> Py4JError:
    """What py4j raises when the JVM never answers a call (the connection dropped mid-call)."""
    try:
        get_return_value(ERROR, None, "z:org.apache.spark.sql.functions", "lit")
    except Py4JError as exc:
        return exc
    raise AssertionError("py4j did not raise")


class _Spark:
    stopped = 0

    def stop(self) -> None:
        self.stopped += 1


@pytest.fixture
def driver_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """run()'s collaborators without a JVM; the supervisor's start does what the test says."""
    parts: dict[str, Any] = {"spark": _Spark(), "signal": False}

    class _Supervisor:
        def __init__(self, _ctx: Any, _jobs: list[str]) -> None:
            pass

        def start(self) -> list[Any]:
            if parts["signal"]:
                os.kill(os.getpid(), signal.SIGTERM)  # the stack stops the group: Python and the JVM
            raise _jvm_gone()

        def stop(self) -> None:
            parts["supervisor_stopped"] = True

    job = SimpleNamespace(reads=("topic_app_events",), writes=("topic_processed_events",))
    monkeypatch.setattr(driver, "registry", lambda _s: SimpleNamespace(select=lambda _j: [job]))
    monkeypatch.setattr(driver, "check_topics", lambda *_a: None)
    monkeypatch.setattr(driver, "check_location", lambda *_a: None)
    monkeypatch.setattr(driver.JobContext, "create", staticmethod(lambda *_a, **_k: object()))
    monkeypatch.setattr(driver, "Supervisor", _Supervisor)
    monkeypatch.setattr(emr_jobs.session, "build_session", lambda *_a: parts["spark"])
    monkeypatch.setattr(emr_jobs.session, "register_progress_listener", lambda *_a: None)
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    yield parts
    signal.signal(signal.SIGTERM, previous[0])
    signal.signal(signal.SIGINT, previous[1])
    root = logging.getLogger()
    for where in (root, *root.handlers):
        where.removeFilter(driver.not_py4j)


def _run() -> int:
    return driver.run(["app_events"], settings=Settings(), cfg=SparkSettings(master="local[1]"))


def test_a_signal_while_the_queries_start_is_a_clean_stop(driver_parts: dict[str, Any],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    driver_parts["signal"] = True
    with caplog.at_level(logging.INFO):
        assert _run() == 0
    assert driver_parts["spark"].stopped == 1 and driver_parts["supervisor_stopped"]
    assert [r.getMessage() for r in caplog.records if r.name == "emr_jobs"] == ["stopped by a signal"]
    caplog.clear()
    logging.exception(driver.PY4J_LOST_CALL)  # py4j's own call (java_gateway.py) for each lost call
    logging.getLogger("py4j.clientserver").error("There was an exception while executing the Python Proxy")
    logging.error("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_a_lost_jvm_without_a_signal_fails_with_one_line_naming_it(driver_parts: dict[str, Any],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert driver.guarded(_run) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: {one_line(_jvm_gone())}"
    assert "JVM did not answer while calling z:org.apache.spark.sql.functions.lit" in err and "\n" not in err
    assert driver_parts["spark"].stopped == 1
