"""The local stack: Kafka (KRaft), PostgreSQL 15 and the AWS emulator under supervisord, no Docker.

    python -m local.stack up        # start (idempotent) and apply the catalog
    python -m local.stack status    # each process, each topic (partitions, messages)
    python -m local.stack down      # stop every stack process, keep the data
    python -m local.stack clean     # stop and wipe local/.state/

From Python (tests)::

    from local.stack import control as stack
    started = stack.ensure_up()       # True if this call started the stack
    stack.stop_program("kafka"); stack.start_program("kafka")   # waits until healthy again
    if started: stack.down()
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from eventbus.cli import exit_with
from eventbus.settings import get_settings
from local.stack import emulator, postgres, prereqs, state
from local.stack.exceptions import PrerequisiteError, StackError
from local.stack.health import port_open, port_owner, wait_until
from local.stack.programs import PROGRAMS, by_name
from local.stack.settings import StackSettings
from local.stack.spec import Ctx, ProgramSpec
from local.stack.supervision import DEAD_STATES, Program, Supervisor, sweep

BOOTSTRAP_TIMEOUT_S = 300.0


def say(message: str) -> None:
    print(f"local-stack: {message}", flush=True)


def context() -> Ctx:
    return Ctx(state.current().ensure(), get_settings(), skip_list())


def skip_list() -> frozenset[str]:
    """``EB_STACK_SKIP``, checked: only app programs (or their group) can be left out."""
    skip = StackSettings().skipped
    skippable = {spec.skip_name for spec in PROGRAMS if spec.phase == "app"}
    if unknown := sorted(skip - skippable):
        raise StackError(
            f"EB_STACK_SKIP names {', '.join(unknown)}, which the stack cannot leave out — "
            f"fix: use only {', '.join(sorted(skippable))} (the engines kafka, postgres, emulator always run)"
        )
    return skip


def stack_env(ctx: Ctx) -> dict[str, str]:
    """Environment of supervisord (so of every program) and of the bootstrap."""
    return {
        "EB_PROFILE": "local",
        "AWS_DEFAULT_REGION": ctx.settings.aws_region,
        **{k: os.environ.get(k, v) for k, v in emulator.DUMMY_CREDENTIALS.items()},
    }


def _resolve(spec: ProgramSpec, ctx: Ctx) -> Program:
    user = spec.user(ctx)
    return Program(
        name=spec.name,
        argv=spec.command(ctx),
        env=dict(spec.env(ctx)),
        # A program run as another user (postgres) may not be able to enter the checkout; it takes only
        # absolute paths, so it starts in /.
        directory=state.REPO_ROOT if user is None else Path("/"),
        autostart=spec.phase == "engine",
        user=user,
        stop_signal=spec.stop_signal,
        stop_wait_s=spec.stop_wait_s,
        stop_as_group=spec.stop_as_group,
        start_secs=spec.start_secs,
        priority=100 + 10 * [s.name for s in PROGRAMS].index(spec.name),
    )


def _supervised(sup: Supervisor) -> list[ProgramSpec]:
    names = set(sup.names())
    return [spec for spec in PROGRAMS if spec.name in names]


# --- health ----------------------------------------------------------------------------------
def _wait_healthy(sup: Supervisor, spec: ProgramSpec, ctx: Ctx, timeout: float | None = None) -> float:
    """Poll until supervisord says RUNNING (up for its ``startsecs``) and the program's probe passes;
    a program that died (FATAL, EXITED) ends the wait at once with one line naming it and its log."""

    def gone() -> str | None:
        status = sup.state_of(spec.name)
        return _dead(sup, spec.name, status, ctx) if status in DEAD_STATES else None

    def healthy() -> bool:
        return sup.state_of(spec.name) == "RUNNING" and bool(spec.healthy(ctx))

    return wait_until(healthy, timeout or spec.start_timeout, spec.name, abort=gone)


def _dead(sup: Supervisor, name: str, status: str, ctx: Ctx) -> str:
    last = next((line.strip() for line in reversed(sup.log_tail(name).splitlines()) if line.strip()), "")
    return f"{status} — read {ctx.state.program_log(name)} (its last line: {last[:200] or '(empty)'})"


def _check_still_running(sup: Supervisor, specs: Sequence[ProgramSpec], ctx: Ctx) -> None:
    """Every program this ``up`` waited for is still RUNNING at its end: one that died after its
    start check fails the start instead of a line saying "up"."""
    dead = [f"{spec.name}: {_dead(sup, spec.name, status, ctx)}" for spec in specs
            if (status := sup.state_of(spec.name)) != "RUNNING"]
    if dead:
        raise StackError("; ".join(dead))


def is_up() -> bool:
    """supervisord runs, every program is RUNNING and healthy, and the catalog is applied."""
    ctx = context()
    sup = Supervisor(ctx.state)
    if not sup.running():
        return False
    infos = {i["name"]: i["statename"] for i in sup.all_info()}
    specs = _supervised(sup)
    if any(infos[s.name] != "RUNNING" for s in specs) or not ctx.state.provisioned():
        return False
    return all(_healthy_now(s, ctx) for s in specs)


def _healthy_now(spec: ProgramSpec, ctx: Ctx) -> bool:
    try:
        return bool(spec.healthy(ctx))
    except Exception:
        return False


# --- up --------------------------------------------------------------------------------------
def _check_prerequisites() -> None:
    problems: list[PrerequisiteError] = []
    for check in (prereqs.java, prereqs.maven, prereqs.postgres_bin, prereqs.postgres_os_user, prereqs.supervisord):
        try:
            check()
        except PrerequisiteError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise StackError("missing prerequisites:\n  " + "\n  ".join(map(str, problems)))


def _check_artifacts(specs: Sequence[ProgramSpec], ctx: Ctx) -> None:
    """Every program that will run has what it runs (venvs, jars): one line each, with the fix."""
    problems = []
    for spec in specs:
        if spec.check is None:
            continue
        try:
            spec.check(ctx)
        except PrerequisiteError as exc:
            problems.append(f"{spec.skip_name}: {exc}")
    problems = list(dict.fromkeys(problems))
    if problems:
        raise StackError("not built yet:\n  " + "\n  ".join(problems))


def _check_ports(specs: Sequence[ProgramSpec], ctx: Ctx) -> None:
    busy = [
        f"port {port} (for {spec.name}) is in use by {port_owner(port)}"
        for spec in specs for port in spec.ports(ctx) if port_open(port)
    ]
    if busy:
        raise PrerequisiteError(
            "; ".join(busy), "stop that process (or change the EB_* port setting), then `make local-up`"
        )


def _fresh_start(ctx: Ctx, sup: Supervisor) -> list[ProgramSpec]:
    _check_prerequisites()
    leftovers = sweep(ctx.state)
    for pid, cmd in leftovers.items():
        say(f"stopped a leftover stack process {pid}: {cmd}")
    if kind := emulator.external(ctx):
        say(f"using the {kind} emulator already answering at {emulator.endpoint(ctx)} (not starting moto)")
    specs = [spec for spec in PROGRAMS if spec.active(ctx)]
    _check_artifacts(specs, ctx)
    _check_ports(specs, ctx)
    if ctx.skip:
        say(f"left out on purpose (EB_STACK_SKIP): {', '.join(sorted(ctx.skip))}")
    for spec in specs:
        if spec.prepare:
            t0 = time.monotonic()
            spec.prepare(ctx)
            say(f"{spec.name}: prepared ({time.monotonic() - t0:.1f}s)")
    sup.launch([_resolve(s, ctx) for s in specs], stack_env(ctx))
    say(f"supervisord started ({ctx.state.supervisor_sock})")
    return specs


def _resume(ctx: Ctx, sup: Supervisor) -> list[str]:
    """supervisord already runs: start what is stopped, add optional programs that appeared."""
    started = []
    for spec in _supervised(sup):
        if spec.phase == "engine" and sup.state_of(spec.name) in DEAD_STATES | {"BACKOFF"}:
            sup.start(spec.name)
            started.append(spec.name)
    present = {s.name for s in _supervised(sup)}
    new = [s for s in PROGRAMS if s.phase == "app" and s.name not in present and s.active(ctx)]
    _check_artifacts(new, ctx)
    if new:
        started += sup.add([_resolve(s, ctx) for s in [*_supervised(sup), *new]])
    return started


def _up(ctx: Ctx, apps_started: list[str] | None = None) -> bool:
    """Bring the stack up; True if supervisord was started by this call. On a running stack, the app
    programs this call started are appended to ``apps_started``."""
    sup = Supervisor(ctx.state)
    t_start = time.monotonic()
    fresh = not sup.running()
    changed = [s.name for s in _fresh_start(ctx, sup)] if fresh else _resume(ctx, sup)
    try:
        specs = _supervised(sup)
        for spec in (s for s in specs if s.phase == "engine"):
            took = _wait_healthy(sup, spec, ctx)
            if spec.name in changed:
                say(f"{spec.name}: {_healthy_line(spec, ctx)} ({took:.1f}s)")
                _on_start(spec, ctx)
        reapplied = bool(changed) or not ctx.state.provisioned()
        if reapplied:
            _provision(ctx, specs)
        if not fresh and (skipped := [s.name for s in specs if s.skipped(ctx)]):
            say(f"left out on purpose (EB_STACK_SKIP), not started: {', '.join(skipped)}")
        for spec in (s for s in specs if s.phase == "app" and not s.skipped(ctx)):
            if (status := sup.state_of(spec.name)) != "RUNNING":
                if status in DEAD_STATES:  # not on its way up: its ports must be free
                    _check_ports([spec], ctx)
                sup.start(spec.name)
                changed += [] if spec.name in changed else [spec.name]
                if not fresh and apps_started is not None:
                    apps_started.append(spec.name)
            took = _wait_healthy(sup, spec, ctx)
            if spec.name in changed:
                say(f"{spec.name}: {_healthy_line(spec, ctx)} ({took:.1f}s)")
                _on_start(spec, ctx)
        _check_still_running(sup, [s for s in specs if not s.skipped(ctx)], ctx)
    except BaseException:
        if fresh:
            say(f"start failed; logs in {ctx.state.logs} — `make local-down` stops what was started")
        raise
    if changed:
        say(f"up in {time.monotonic() - t_start:.1f}s (started: {', '.join(changed)})")
    elif reapplied:
        say("already up — schemas/ changed, so the OLTP schema and the catalog were re-applied")
    else:
        say("already up — nothing to do")
    return fresh


def _healthy_line(spec: ProgramSpec, ctx: Ctx) -> str:
    """``healthy at <its endpoint>``; a program without one (Airflow's workers) is running, past its startsecs."""
    endpoint = spec.endpoint(ctx)
    return f"healthy at {endpoint}" if endpoint else f"running for {spec.start_secs} s (no probe of its own)"


def _on_start(spec: ProgramSpec, ctx: Ctx) -> None:
    if spec.on_start:
        spec.on_start(ctx)


def _provision(ctx: Ctx, specs: Sequence[ProgramSpec]) -> None:
    ctx.state.forget_provisioned()
    for spec in specs:
        if spec.provision:
            t0 = time.monotonic()
            spec.provision(ctx)
            say(f"{spec.name}: provisioned ({time.monotonic() - t0:.1f}s)")
    run_bootstrap(ctx)
    ctx.state.mark_provisioned()


def run_bootstrap(ctx: Ctx) -> None:
    """The catalog bootstrap (``python -m lambdas.bootstrap``): topics, schemas, buckets, DB secret (idempotent)."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "lambdas.bootstrap"],
            env={**os.environ, **stack_env(ctx)}, cwd=state.REPO_ROOT,
            capture_output=True, text=True, timeout=BOOTSTRAP_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"lambdas.bootstrap did not finish within {BOOTSTRAP_TIMEOUT_S:.0f}s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise StackError(f"lambdas.bootstrap failed (exit {proc.returncode}):\n{tail}")
    summary = proc.stdout.strip().splitlines()
    say(f"catalog applied ({time.monotonic() - t0:.1f}s): {summary[-1] if summary else 'ok'}")
    for line in proc.stderr.splitlines():
        if line.startswith("warning:"):
            say(line)


def up() -> bool:
    """`make local-up`. True if it started the stack. The stack then belongs to the user: test
    sessions that find it running leave it running."""
    ctx = context()
    with state.locked(ctx.state):
        started = _up(ctx)
        state.auto_started_file(ctx.state).unlink(missing_ok=True)
        state.take_session_programs(ctx.state)  # what runs now is the user's
    return started


def ensure_up() -> bool:
    """Start the stack unless it is up; True if this call started supervisord.

    A failed start stops what it started, so a broken test run leaves no processes behind.
    """
    ctx = context()
    with state.locked(ctx.state):
        return _ensure_up(ctx)


def _ensure_up(ctx: Ctx, apps_started: list[str] | None = None) -> bool:
    was_running = Supervisor(ctx.state).running()
    try:
        return _up(ctx, apps_started)
    except BaseException:
        if not was_running:
            _down(ctx)
        raise


@contextmanager
def session() -> Iterator[bool]:
    """Keep the stack up for a block (a pytest session); yields whether this call started it.

    Afterwards the stack is stopped if a test session started it and no other session (another
    pytest on the same machine) still holds it; a stack started with `make local-up` stays up as it
    was: programs left out of it (``EB_STACK_SKIP=airflow,spark make local-up``) that the tests
    started are stopped again once the last session ends.
    """
    ctx = context()
    with state.locked(ctx.state):
        apps_started: list[str] = []
        started = _ensure_up(ctx, apps_started)
        if started:
            state.auto_started_file(ctx.state).touch()
        state.add_session_programs(ctx.state, apps_started)
        state.add_lease(ctx.state)
    try:
        yield started
    finally:
        with state.locked(ctx.state):
            state.remove_lease(ctx.state)
            if not state.live_leases(ctx.state):
                if state.auto_started_file(ctx.state).exists():
                    _down(ctx)
                elif names := state.take_session_programs(ctx.state):
                    sup = Supervisor(ctx.state)
                    for name in reversed(names):
                        sup.stop(name)
                    say(f"stopped what the tests started on your stack: {', '.join(names)}")


# --- down / clean ------------------------------------------------------------------------------
def _down(ctx: Ctx) -> bool:
    sup = Supervisor(ctx.state)
    t0 = time.monotonic()
    stopped = sup.shutdown(say=say)
    leftovers = sweep(ctx.state)
    state.auto_started_file(ctx.state).unlink(missing_ok=True)
    state.take_session_programs(ctx.state)
    for pid, cmd in leftovers.items():
        say(f"stopped a leftover stack process {pid}: {cmd}")
    if stopped or leftovers:
        say(f"down in {time.monotonic() - t0:.1f}s (data kept in {ctx.state.root})")
        return True
    say("not running")
    return False


def down() -> bool:
    """`make local-down`: stop supervisord and every stack process, keep the data."""
    ctx = context()
    with state.locked(ctx.state):
        return _down(ctx)


def clean() -> None:
    """`make local-clean`: stop the stack and wipe the state folder."""
    ctx = context()
    with state.locked(ctx.state):
        _down(ctx)
        ctx.state.wipe()
        outside = postgres.outside_dir(ctx).parent
        if outside.is_dir():
            shutil.rmtree(outside)
            say(f"wiped {outside}")
    say(f"wiped {ctx.state.root}")


# --- single programs (no-loss drills, restarts) -----------------------------------------------
def stop_program(name: str) -> None:
    """Stop one program (e.g. "kafka") and wait until it has exited. The rest keeps running."""
    by_name(name)
    Supervisor(state.current()).stop(name)


def start_program(name: str, timeout: float | None = None) -> float:
    """Start one program again and wait until it is healthy; returns the seconds it took.

    A program that keeps its state in memory (the emulator) gets the catalog re-applied.
    """
    spec = by_name(name)
    ctx = context()
    sup = Supervisor(ctx.state)
    if not sup.running():
        raise StackError("the stack is not running — `make local-up` first")
    t0 = time.monotonic()
    sup.start(name)
    _wait_healthy(sup, spec, ctx, timeout)
    _on_start(spec, ctx)
    if spec.volatile:
        with state.locked(ctx.state):
            _provision(ctx, _supervised(sup))
    return time.monotonic() - t0


# --- CLI -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.stack",
        description="The local stack without Docker: Kafka (KRaft) on 127.0.0.1:9092, PostgreSQL 15 on "
        "127.0.0.1:55432, the AWS emulator on 127.0.0.1:4566, under supervisord. "
        "State (data, logs, configs): local/.state/.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start everything (a no-op when up), then apply the topic catalog")
    sub.add_parser("down", help="stop every stack process, keep the data")
    sub.add_parser("status", help="each process (state, pid, uptime) and each topic (partitions, messages)")
    sub.add_parser("clean", help="stop the stack and wipe local/.state/")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            up()
        elif args.cmd == "down":
            down()
        elif args.cmd == "clean":
            clean()
        else:
            from local.stack.status import report

            return report(context())
    except StackError as exc:
        print(f"local-stack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("local-stack: interrupted — `make local-status` shows what runs", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    exit_with(main)
