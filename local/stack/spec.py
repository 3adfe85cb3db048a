"""What the stack knows about one supervised program. `local/stack/programs.py` lists them."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from eventbus.settings import Settings
from local.stack.state import State


@dataclass(frozen=True)
class Ctx:
    """Passed to every hook: where the state lives and the project settings (ports, DSN, …)."""

    state: State
    settings: Settings
    #: Program names/groups the user opted out of (``EB_STACK_SKIP``, see ``local/stack/settings.py``).
    skip: frozenset[str] = frozenset()


Hook = Callable[[Ctx], None]


@dataclass(frozen=True)
class ProgramSpec:
    """One program under supervisord.

    ``engine`` programs start together with supervisord; the catalog bootstrap runs once they are all
    healthy; ``app`` programs (gateway, simulators, CDC relay) start after it.
    """

    name: str
    command: Callable[[Ctx], list[str]]
    #: True when the program serves its clients (polled with a deadline after a start, together with
    #: supervisord's RUNNING: a program without a probe of its own returns True).
    healthy: Callable[[Ctx], bool]
    phase: Literal["engine", "app"] = "engine"
    #: Before supervisord starts the program: fetch jars, initdb, write configs. Idempotent.
    prepare: Hook | None = None
    #: Once healthy, on every start of the stack: roles, databases, schema. Idempotent.
    provision: Hook | None = None
    #: Once healthy after this very program was (re)started, before provisioning.
    on_start: Hook | None = None
    #: Keeps its state in memory only (moto): after a restart of it alone the catalog is re-applied.
    volatile: bool = False
    #: Optional program: only part of the stack when this Python module exists.
    module: str | None = None
    #: Whether to run it at all on this machine (e.g. not the emulator when LocalStack answers).
    enabled: Callable[[Ctx], bool] | None = None
    #: What ``EB_STACK_SKIP`` calls it (programs of one component share a group, e.g. ``airflow``);
    #: ``None``: the program's name. Engines cannot be skipped.
    group: str | None = None
    #: Raises ``PrerequisiteError`` (one line, with the fix) when an artifact it runs is not built
    #: (a venv, jars). Checked before a start: a program is never left out silently.
    check: Hook | None = None
    #: Every TCP port it binds (127.0.0.1); checked free before it starts, so a taken one is named up
    #: front instead of the program dying on it.
    ports: Callable[[Ctx], tuple[int, ...]] = lambda ctx: ()
    #: Shown by `status`.
    endpoint: Callable[[Ctx], str] = lambda ctx: ""
    env: Callable[[Ctx], Mapping[str, str]] = lambda ctx: {}
    #: OS user to run as when the stack runs as root (postgres refuses to run as root).
    user: Callable[[Ctx], str | None] = lambda ctx: None
    start_timeout: float = 60.0
    #: Seconds it must stay up after a start to count as started (supervisord's ``startsecs``): the
    #: only start check of a program with no health probe of its own (Airflow's scheduler, …).
    start_secs: int = 2
    stop_signal: str = "TERM"
    stop_wait_s: int = 30
    #: Signal the whole process group on stop (False for postgres: the postmaster stops its children).
    stop_as_group: bool = True

    def available(self) -> bool:
        """False for an optional program whose module is not in this checkout yet."""
        if self.module is None:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    @property
    def skip_name(self) -> str:
        return self.group or self.name

    def active(self, ctx: Ctx) -> bool:
        return self.available() and (self.enabled is None or self.enabled(ctx)) and not self.skipped(ctx)

    def skipped(self, ctx: Ctx) -> bool:
        """Opted out by the user (``EB_STACK_SKIP``); only ``app`` programs can be."""
        return self.phase == "app" and self.skip_name in ctx.skip
