"""Prerequisite checks. Each failure is one line: what is missing and the command that fixes it."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from local.stack.exceptions import PrerequisiteError
from local.stack.state import MAX_SOCKET_PATH

PG_MAJOR = 15
PG_PACKAGE = f"postgresql-{PG_MAJOR}"
JAVA_FIX = "apt-get install -y openjdk-17-jre-headless"
MAVEN_FIX = "apt-get install -y maven"


def is_root() -> bool:
    return os.geteuid() == 0


def java() -> str:
    """Path of a Java 17+ runtime (Kafka 4.x brokers need 17)."""
    home = os.environ.get("JAVA_HOME")
    exe = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else None
    exe = exe or shutil.which("java")
    if not exe:
        raise PrerequisiteError("java not found (Kafka needs Java 17+)", JAVA_FIX)
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < 17:
        raise PrerequisiteError(f"{exe} is Java {major or '?'}; Kafka 4.x needs Java 17+", JAVA_FIX)
    return exe


def maven() -> str:
    exe = shutil.which("mvn")
    if not exe:
        raise PrerequisiteError("mvn not found (it fetches the Kafka jars from Maven Central)", MAVEN_FIX)
    return exe


def supervisord() -> list[str]:
    """The supervisord command of this Python environment."""
    import sys

    try:
        import supervisor  # noqa: F401
    except ImportError:
        raise PrerequisiteError(
            "the supervisor package is not installed in this Python", "make install"
        ) from None
    exe = Path(sys.executable).parent / "supervisord"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "supervisor.supervisord"]


def postgres_bin(install: bool = True) -> Path:
    """/usr/lib/postgresql/15/bin; installs Debian's postgresql-15 when missing and apt is usable."""
    bindir = Path(os.environ.get("EB_LOCAL_PG_BIN", f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    if (bindir / "postgres").exists() and (bindir / "initdb").exists():
        return bindir
    apt = shutil.which("apt-get")
    fix = f"apt-get update && apt-get install -y {PG_PACKAGE}"
    if not install or not apt or not is_root():
        raise PrerequisiteError(f"PostgreSQL {PG_MAJOR} server binaries not found in {bindir}", fix)
    print(f"PostgreSQL {PG_MAJOR} not found; installing {PG_PACKAGE} from Debian packages …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The stack runs its own cluster: no system cluster on 5432 (postgresql-common reads this).
    dropin = Path("/etc/postgresql-common/createcluster.d")
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "no-main-cluster.conf").write_text("create_main_cluster = false\n")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", PG_PACKAGE]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
            raise PrerequisiteError(f"`{' '.join(cmd)}` failed ({' '.join(tail)})", fix)
    if not (bindir / "postgres").exists():
        raise PrerequisiteError(f"{PG_PACKAGE} installed but {bindir}/postgres is missing", fix)
    return bindir


def postgres_os_user() -> str | None:
    """Who runs the postgres server: the `postgres` system user when we are root, else ourselves."""
    if not is_root():
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PrerequisiteError(
            "running as root but there is no `postgres` system user to run the server as",
            f"apt-get install -y {PG_PACKAGE}  (or: useradd --system postgres)",
        ) from None
    return "postgres"


def socket_path(path: Path) -> None:
    if len(str(path)) > MAX_SOCKET_PATH:
        raise PrerequisiteError(
            f"unix socket path {path} is longer than {MAX_SOCKET_PATH} bytes",
            "export EB_LOCAL_STATE_DIR=/tmp/travel-stack (a shorter state folder)",
        )
