"""The state folder (``local/.state/``, gitignored): configs, data, logs, sockets of the stack.

Everything the stack writes lives here, so ``make local-clean`` is one ``rm -rf`` and two clones
never share state. ``EB_LOCAL_STATE_DIR`` moves it (e.g. to keep unix-socket paths short).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from eventbus.paths import REPO_ROOT, local_state_dir

#: Set in the environment of supervisord and every program: how `down` finds the stack's processes.
MARKER_ENV = "EB_LOCAL_STACK"
#: AF_UNIX paths longer than this fail to bind (Linux limit 108 bytes incl. NUL).
MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class State:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def supervisord_conf(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def supervisord_pid(self) -> Path:
        return self.root / "supervisord.pid"

    @property
    def supervisor_sock(self) -> Path:
        return self.root / "supervisor.sock"

    @property
    def marker(self) -> str:
        return f"{MARKER_ENV}={self.root}"

    def program_dir(self, name: str) -> Path:
        return self.root / name

    def program_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def ensure(self) -> State:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self

    # --- provisioning fingerprint: re-apply schema + catalog when they change -------------------
    @property
    def _fingerprint_file(self) -> Path:
        return self.root / "provisioned.sha256"

    def provisioned(self) -> bool:
        f = self._fingerprint_file
        return f.is_file() and f.read_text().strip() == source_fingerprint()

    def mark_provisioned(self) -> None:
        self._fingerprint_file.write_text(source_fingerprint() + "\n")

    def forget_provisioned(self) -> None:
        self._fingerprint_file.unlink(missing_ok=True)

    def wipe(self) -> None:
        """Remove everything in the state folder but the lock file."""
        if not self.root.is_dir():
            return
        for child in self.root.iterdir():
            if child.name == ".lock":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


def source_fingerprint() -> str:
    """Hash of what provisioning applies: topic catalog, Avro schemas, OLTP SQL."""
    h = hashlib.sha256()
    schemas = REPO_ROOT / "schemas"
    for path in sorted(p for p in schemas.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(schemas)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def current() -> State:
    return State(local_state_dir())


@contextmanager
def locked(state: State) -> Iterator[None]:
    """One stack operation at a time (several test sessions may call ensure_up at once)."""
    state.root.mkdir(parents=True, exist_ok=True)
    with open(state.root / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- leases: which processes (test sessions) are using a stack they may have started ------------
def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime (guards against pid reuse)


def add_lease(state: State, pid: int | None = None) -> Path:
    pid = pid or os.getpid()
    leases = state.root / "leases"
    leases.mkdir(parents=True, exist_ok=True)
    path = leases / f"{pid}-{_start_time(pid)}"
    path.touch()
    return path


def remove_lease(state: State, pid: int | None = None) -> None:
    pid = pid or os.getpid()
    for path in (state.root / "leases").glob(f"{pid}-*"):
        path.unlink(missing_ok=True)


def live_leases(state: State) -> list[int]:
    """Pids of lease holders still alive (stale lease files are removed)."""
    alive = []
    for path in (state.root / "leases").glob("*-*"):
        pid_s, _, start = path.name.partition("-")
        if pid_s.isdigit() and _start_time(int(pid_s)) == start:
            alive.append(int(pid_s))
        else:
            path.unlink(missing_ok=True)
    return alive


def auto_started_file(state: State) -> Path:
    """Present while the running stack was started by a test session (not by `make local-up`)."""
    return state.root / "auto-started"


def _session_programs_file(state: State) -> Path:
    return state.root / "session-programs"


def add_session_programs(state: State, names: list[str]) -> None:
    """Note app programs a test session started on a stack it did not start (the user's stack, with
    some programs left out on purpose): the last session to end stops them again."""
    if names:
        path = _session_programs_file(state)
        known = _read_names(path)
        path.write_text("".join(f"{n}\n" for n in [*known, *(n for n in names if n not in known)]))


def take_session_programs(state: State) -> list[str]:
    """The programs noted by ``add_session_programs``, in start order; forgets them."""
    path = _session_programs_file(state)
    names = _read_names(path)
    path.unlink(missing_ok=True)
    return names


def _read_names(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []
