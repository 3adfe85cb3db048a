"""Airflow 3 in the local stack: api-server (UI + REST on 127.0.0.1:8080), scheduler, dag-processor,
triggerer — each a supervised program — plus the replay server of the DAGs' external APIs (:8090).

Airflow runs from its own virtualenv (``.venv-airflow``, made by ``make install``: its pins clash with
the gateway's), its metadata in the stack's PostgreSQL (database ``airflow``, owned by the ``travel``
role), DAGs from ``mwaa_dags/``, unpaused at creation, LocalExecutor. Auth: the simple auth manager with
every user an admin — bound to 127.0.0.1, so anyone on this machine is admin (see mwaa_dags/README.md for
how a client gets a token). ``airflow_env(ctx)`` is the environment ``make dag`` and the tests use too.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from local.stack import emulator, postgres
from local.stack.exceptions import PrerequisiteError, StackError
from local.stack.health import http_get
from local.stack.spec import Ctx, ProgramSpec
from local.stack.state import REPO_ROOT

VENV = REPO_ROOT / ".venv-airflow"
AIRFLOW = VENV / "bin" / "airflow"
DAGS_DIR = REPO_ROOT / "mwaa_dags"
PORT = 8080
REPLAY_PORT = 8090
DATABASES = ("airflow", "airflow_test")  # the stack's Airflow; dag.test() runs of the tests (no scheduler)
API_URL = f"http://127.0.0.1:{PORT}"


def home(ctx: Ctx) -> Path:
    return ctx.state.program_dir("airflow")


def _secret(ctx: Ctx) -> str:
    """One random secret per state folder, shared by every Airflow process (JWTs between them)."""
    path = home(ctx) / "jwt_secret"
    if not path.exists() or len(path.read_text().strip()) < 64:  # HS512 wants >= 64 bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


def sql_conn(ctx: Ctx, database: str = "airflow") -> str:
    s = ctx.settings
    return (f"postgresql+psycopg2://{quote(s.pg_user)}:{quote(s.pg_password.get_secret_value())}"
            f"@{s.pg_host}:{s.pg_port}/{database}")


def airflow_env(ctx: Ctx, database: str = "airflow") -> dict[str, str]:
    """Airflow's configuration for the local stack, as AIRFLOW__* variables."""
    secret = _secret(ctx)
    return {
        "AIRFLOW_HOME": str(home(ctx)),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",  # 2 cores; a worker process each
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__AUTH_MANAGER":
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{API_URL}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(PORT),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": API_URL,
        "AIRFLOW__API__SECRET_KEY": secret,
        "AIRFLOW__API_AUTH__JWT_SECRET": secret,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_conn(ctx, database),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home(ctx) / "logs"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",  # its server would bind 0.0.0.0:8974
        "AIRFLOW__TRIGGERER__CAPACITY": "100",
        # Task processes call the api-server's execution API; on a busy 2-core box the default 5 s timeout
        # x 5 retries fails tasks that would have succeeded.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
        "EB_PROFILE": "local",
        "EB_DAGS_REPLAY_URL": f"http://127.0.0.1:{REPLAY_PORT}",
        # Locally the sources' secrets are files (mode 600) in the state folder; see secrets_dir().
        "EB_DAGS_SECRETS_DIR": str(secrets_dir(ctx)),
        **emulator.DUMMY_CREDENTIALS,
    }


#: Locally only the replay server checks these (any well-formed app password passes); to call the real
#: Bluesky from a local run, put your own app password in the file instead.
REPLAY_SECRETS = {"bluesky-app-password": "repl-ayon-lyxx-xxxx"}
POOLS_FILE = DAGS_DIR / "config" / "pools.yaml"


def secrets_dir(ctx: Ctx) -> Path:
    """The local secret files of the DAGs' sources (``EB_DAGS_SECRETS_DIR``), made once, mode 600."""
    path = home(ctx) / "secrets"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    for name, value in REPLAY_SECRETS.items():
        f = path / name
        if not f.exists():
            f.write_text(value + "\n")
            f.chmod(0o600)
    return path


def ensure_pools(ctx: Ctx, database: str) -> None:
    """The pools of ``mwaa_dags/config/pools.yaml`` in ``database`` (``airflow pools import``), once per
    content of that file: a task naming a missing pool is never scheduled."""
    import hashlib
    import json

    import yaml

    text = POOLS_FILE.read_text()
    marker = home(ctx) / f"pools-{database}"
    digest = hashlib.sha256(text.encode()).hexdigest()
    if marker.exists() and marker.read_text() == digest:
        return
    pools = {name: {"slots": p["slots"], "description": p.get("description", ""), "include_deferred": False}
             for name, p in yaml.safe_load(text)["pools"].items()}
    spec = home(ctx) / "pools.json"
    spec.write_text(json.dumps(pools))
    proc = subprocess.run([str(AIRFLOW), "pools", "import", str(spec)], capture_output=True, text=True, check=False,
                          env={**os.environ, **airflow_env(ctx, database)}, cwd=REPO_ROOT, timeout=300)
    if proc.returncode != 0:
        raise StackError(f"`airflow pools import` on database {database} failed: {(proc.stdout + proc.stderr)[-800:]}")
    marker.write_text(digest)


def installed(ctx: Ctx | None = None) -> bool:
    return AIRFLOW.exists()


def check_installed(ctx: Ctx) -> None:
    """Airflow runs from .venv-airflow, which `make local-up` / `make install` build."""
    if not installed(ctx):
        raise PrerequisiteError(
            f"Airflow is not installed ({AIRFLOW.relative_to(REPO_ROOT)} is missing)",
            "make airflow-install (make local-up does it), or EB_STACK_SKIP=airflow to run without the DAGs",
        )


def migrate(ctx: Ctx, database: str) -> None:
    """``airflow db migrate`` once per (database, Airflow version); a marker file skips it afterwards."""
    marker = home(ctx) / f"migrated-{database}"
    version = subprocess.run([str(AIRFLOW), "version"], capture_output=True, text=True, check=False,
                             env={**os.environ, **airflow_env(ctx, database)}).stdout.strip()
    if marker.exists() and marker.read_text() == version:
        return
    proc = subprocess.run([str(AIRFLOW), "db", "migrate"], capture_output=True, text=True, check=False,
                          env={**os.environ, **airflow_env(ctx, database)}, cwd=REPO_ROOT, timeout=600)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise StackError(f"`airflow db migrate` on database {database} failed:\n{tail}")
    marker.write_text(version)


def create_databases(ctx: Ctx) -> None:
    """Databases ``airflow`` and ``airflow_test``, owned by the application role. Idempotent."""
    from psycopg2 import sql

    conn = postgres._superuser_connect(ctx)
    try:
        conn.autocommit = True
        with closing(conn.cursor()) as cur:
            for db in DATABASES:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if not cur.fetchone():
                    cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(db), sql.Identifier(ctx.settings.pg_user)))
    finally:
        conn.close()


def provision(ctx: Ctx) -> None:
    create_databases(ctx)
    migrate(ctx, "airflow")
    ensure_pools(ctx, "airflow")


def _program(name: str, args: list[str], *, healthy_url: str | None = None, provision_hook: bool = False,
             port: int | None = None, start_timeout: float = 120.0, start_secs: int = 2) -> ProgramSpec:
    def healthy(ctx: Ctx) -> bool:
        if healthy_url is None:
            return True
        answer = http_get(healthy_url, timeout=10)  # 1 worker, busy serving task processes at times
        return answer is not None and answer[0] == 200

    return ProgramSpec(
        name=name,
        phase="app",
        command=lambda ctx: [str(AIRFLOW), *args],
        healthy=healthy,
        provision=provision if provision_hook else None,
        group="airflow",
        check=check_installed,
        ports=lambda ctx: (port,) if port else (),
        endpoint=lambda ctx: healthy_url or "",
        env=airflow_env,
        start_timeout=start_timeout,
        start_secs=start_secs,
        stop_wait_s=30,
    )


def replay_spec() -> ProgramSpec:
    import sys

    url = f"http://127.0.0.1:{REPLAY_PORT}/health"
    return ProgramSpec(
        name="replay",
        phase="app",
        command=lambda ctx: [sys.executable, "-m", "local.replay", "--port", str(REPLAY_PORT)],
        healthy=lambda ctx: (a := http_get(url)) is not None and a[0] == 200,
        ports=lambda ctx: (REPLAY_PORT,),
        endpoint=lambda ctx: url,
        group="airflow",  # only the DAGs call it
    )


SPECS: tuple[ProgramSpec, ...] = (
    replay_spec(),
    # The provision hook (databases + `airflow db migrate`) runs before any app program starts.
    _program("airflow-api-server", ["api-server"], healthy_url=f"{API_URL}/api/v2/monitor/health",
             provision_hook=True, port=PORT),
    # No health probe of their own: started = still running 10 s later (importing Airflow and reaching
    # the database take seconds, so a broken start dies after supervisord's default 2 s).
    # --skip-serve-logs: Airflow's log server (scheduler :8793, triggerer :8794) binds every interface
    # (airflow/utils/serve_logs/core.py: host="", no setting for it). It only serves other machines:
    # the api-server reads task and trigger logs from the files under AIRFLOW__LOGGING__BASE_LOG_FOLDER
    # (FileTaskHandler._read_from_local), on this same machine.
    _program("airflow-scheduler", ["scheduler", "--skip-serve-logs"], start_secs=10),
    _program("airflow-dag-processor", ["dag-processor"], start_secs=10),
    _program("airflow-triggerer", ["triggerer", "--skip-serve-logs"], start_secs=10),
)
