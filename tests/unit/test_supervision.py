"""The stack only ever signals its own supervisord: a pid file left by a crash or a reboot, whose pid
now belongs to another process, is reported stale and removed, and that process keeps running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.stack.health import wait_until
from local.stack.state import State
from local.stack.supervision import Supervisor, is_our_supervisord


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process the test owns (``sleep``), stopped at the end."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait(10)


def _state(tmp_path: Path, pid: int) -> State:
    st = State(tmp_path / "state").ensure()
    st.supervisord_pid.write_text(f"{pid}\n")
    st.supervisor_sock.touch()  # left behind too: nothing answers on it
    return st


def test_a_stale_pid_file_naming_another_process_is_removed_and_that_process_survives(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    st = _state(tmp_path, sleeper.pid)
    sup = Supervisor(st)
    lines: list[str] = []
    assert sup.pid() is None
    assert sup.shutdown(timeout=2.0, say=lines.append) is False  # "not running": nothing was stopped
    assert sleeper.poll() is None, "an unrelated process was signalled"
    assert not st.supervisord_pid.exists()
    assert len(lines) == 1 and "stale" in lines[0] and f"pid {sleeper.pid}" in lines[0]
    assert "\n" not in lines[0]


def test_a_pid_file_of_a_process_that_is_gone_is_removed(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait(10)
    st = _state(tmp_path, proc.pid)
    lines: list[str] = []
    assert Supervisor(st).shutdown(timeout=2.0, say=lines.append) is False
    assert not st.supervisord_pid.exists()
    assert len(lines) == 1 and "no longer running" in lines[0]


def test_only_a_supervisord_with_this_stacks_config_counts(tmp_path: Path) -> None:
    # Shaped like the real one: `<python> <venv>/bin/supervisord -c <state>/supervisord.conf`.
    fake = tmp_path / "bin" / "supervisord"
    fake.parent.mkdir()
    fake.write_text("import time\ntime.sleep(300)\n")
    st = State(tmp_path / "state").ensure()
    proc = subprocess.Popen([sys.executable, str(fake), "-c", str(st.supervisord_conf)])
    try:
        st.supervisord_pid.write_text(f"{proc.pid}\n")
        # until the child has exec'd, its command line is still this pytest's
        wait_until(lambda: Supervisor(st).pid() == proc.pid, 10, "the fake supervisord running", interval=0.05)
        assert Supervisor(st).forget_stale_pid() is None and st.supervisord_pid.exists()
        other = State(tmp_path / "other").ensure()
        assert not is_our_supervisord(proc.pid, other.supervisord_conf)
    finally:
        proc.kill()
        proc.wait(10)
