"""A program is started only once supervisord calls it RUNNING and its probe passes; one that dies at
start (or right after) fails ``up`` with one line naming it and its log; every port a program binds is
declared, so a taken one is reported before anything starts.

The start checks run a real supervisord in a private state folder (programs: ``sh``/``sleep``)."""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventbus.settings import Settings
from local.stack import control
from local.stack.exceptions import NotReadyError, PrerequisiteError, StackError
from local.stack.health import wait_until
from local.stack.programs import PROGRAMS, python_program
from local.stack.spec import Ctx, ProgramSpec
from local.stack.state import State
from local.stack.supervision import Program, Supervisor, sweep

PORT_FLAG = re.compile(r"--[\w-]*port$")


@pytest.fixture
def ctx() -> Iterator[Ctx]:
    root = Path(tempfile.mkdtemp(prefix="sv-"))  # short: supervisord's unix socket lives here
    try:
        yield Ctx(State(root).ensure(), Settings(profile="local"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _spec(name: str) -> ProgramSpec:
    """A program with no health probe of its own (as the simulators and Airflow's workers had)."""
    return ProgramSpec(name=name, phase="app", command=lambda ctx: [], healthy=lambda ctx: True, start_timeout=30)


@pytest.fixture
def supervised(ctx: Ctx) -> Iterator[Supervisor]:
    """supervisord in ``ctx``'s state folder with three programs, stopped at the end."""
    programs = [
        Program("dies", ["sh", "-c", "echo cannot bind 127.0.0.1:9188; exit 3"], {}, ctx.state.root, autostart=False),
        Program("stays", ["sleep", "300"], {}, ctx.state.root, autostart=False, start_secs=1),
        Program("dies-later", ["sh", "-c", "sleep 2; echo gone"], {}, ctx.state.root, autostart=False, start_secs=1),
    ]
    sup = Supervisor(ctx.state)
    sup.launch(programs, {})
    try:
        yield sup
    finally:
        sup.shutdown(timeout=30)
        sweep(ctx.state)


def test_a_program_without_a_probe_that_exits_at_once_fails_the_start_naming_it_and_its_log(
    supervised: Supervisor, ctx: Ctx
) -> None:
    supervised.start("dies")
    with pytest.raises(NotReadyError) as err:
        control._wait_healthy(supervised, _spec("dies"), ctx)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("dies: FATAL")
    assert str(ctx.state.program_log("dies")) in message and "cannot bind 127.0.0.1:9188" in message


def test_a_program_without_a_probe_is_started_once_running_and_fails_up_if_it_dies_afterwards(
    supervised: Supervisor, ctx: Ctx
) -> None:
    for name in ("stays", "dies-later"):
        supervised.start(name)
        control._wait_healthy(supervised, _spec(name), ctx)
        assert supervised.state_of(name) == "RUNNING"
    control._check_still_running(supervised, [_spec("stays")], ctx)
    wait_until(lambda: supervised.state_of("dies-later") == "EXITED", 30, "dies-later exiting", interval=0.1)
    with pytest.raises(StackError) as err:
        control._check_still_running(supervised, [_spec("stays"), _spec("dies-later")], ctx)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("dies-later: EXITED") and "stays" not in str(err.value)


def test_every_port_on_a_programs_command_line_is_declared(ctx: Ctx) -> None:
    for spec in (s for s in PROGRAMS if s.phase == "app"):
        argv = spec.command(ctx)
        flagged = {int(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if PORT_FLAG.match(arg)}
        assert flagged <= set(spec.ports(ctx)), f"{spec.name} binds {flagged}, declares {spec.ports(ctx)}"
    simulators = next(s for s in PROGRAMS if s.name == "simulators")
    assert 9188 in simulators.ports(ctx) and simulators.endpoint(ctx) == "http://127.0.0.1:9188/status"


def test_a_taken_simulators_status_port_is_reported_before_the_start(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's own simulators entry (its port 9188 is not bound here: the check is asked about it)."""
    monkeypatch.setattr(control, "port_open", lambda port: port == 9188)
    monkeypatch.setattr(control, "port_owner", lambda port: f"python (pid 4242) on {port}")
    with pytest.raises(PrerequisiteError) as err:
        control._check_ports([control.by_name("simulators")], ctx)
    assert "port 9188 (for simulators) is in use by python (pid 4242)" in str(err.value)
    assert "\n" not in str(err.value)


def test_the_port_check_names_a_port_a_python_program_declares(ctx: Ctx) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        spec = python_program("probe", "lambdas.simulators", "run", "--status-port", str(port),
                              health_url=f"http://127.0.0.1:{port}/status", port=port)
        with pytest.raises(PrerequisiteError) as err:
            control._check_ports([spec], ctx)
    assert f"port {port} (for probe) is in use by" in str(err.value)


def test_the_start_line_names_the_endpoint_or_says_there_is_no_probe() -> None:
    ctx = control.context()
    by_name = {s.name: s for s in PROGRAMS}
    assert control._healthy_line(by_name["gateway"], ctx) == "healthy at http://127.0.0.1:8000/ready"
    scheduler = by_name["airflow-scheduler"]
    assert control._healthy_line(scheduler, ctx) == f"running for {scheduler.start_secs} s (no probe of its own)"
