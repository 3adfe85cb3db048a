"""A newcomer's first hour: the README's commands build what they run, a program is never left out
silently, and a checkout the ``postgres`` user cannot enter still gets a cluster.

No services: `make -n` shows what a target would build, the stack's checks run on a fake checkout.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventbus.settings import Settings
from local.stack import airflow, broker, postgres
from local.stack import control as stack
from local.stack.exceptions import PrerequisiteError, StackError
from local.stack.programs import PROGRAMS, spark_jars_resolved
from local.stack.spec import Ctx
from local.stack.state import REPO_ROOT, State

MVN_JARS = "mvn -q -B -f emr_jobs/jars/pom.xml dependency:copy-dependencies"
AIRFLOW_VENV = ".venv-airflow/bin/pip install"


def dry_run(target: str, **env: str) -> str:
    """The commands `make <target>` would run if nothing were built yet (-B: every stamp out of date)."""
    proc = subprocess.run(["make", "-n", "-B", target], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, check=True, timeout=60)
    return proc.stdout


@pytest.mark.parametrize("target", ["local-up", "test", "test-unit", "test-integration", "test-e2e"])
def test_the_readme_commands_build_the_jars_and_airflow(target: str) -> None:
    commands = dry_run(target, EB_STACK_SKIP="")
    assert "pip install -q -e '.[all,dev]'" in commands
    assert MVN_JARS in commands
    assert AIRFLOW_VENV in commands


def test_local_up_builds_nothing_for_what_the_user_skipped() -> None:
    commands = dry_run("local-up", EB_STACK_SKIP="airflow,spark")
    assert MVN_JARS not in commands and AIRFLOW_VENV not in commands
    assert "-m local.stack up" in commands


def test_make_help_lists_install() -> None:
    out = subprocess.run(["make", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    assert any(line.split()[:1] == ["install"] for line in out.replace("\x1b[36m", "").splitlines())


def test_ci_runs_the_readme_commands_and_no_install_step() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in script.splitlines() if "make " in line and not line.strip().startswith("#")]
    assert not any("make install" in c for c in commands), commands
    assert [c for c in commands if c.startswith(("make", "timed make"))] == [
        "timed make local-up", "timed make local-down", "timed make test"]
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make local-up" in readme and "make test" in readme


# --- EB_STACK_SKIP and the artifact checks ---------------------------------------------------------
def test_skip_takes_app_programs_and_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_STACK_SKIP", "airflow, spark")
    assert stack.skip_list() == {"airflow", "spark"}
    ctx = Ctx(State(Path("/nonexistent")), Settings(), stack.skip_list())
    skipped = {spec.name for spec in PROGRAMS if spec.skipped(ctx)}
    assert skipped == {"spark", "replay", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                       "airflow-triggerer"}
    assert {"kafka", "postgres", "emulator", "gateway"}.isdisjoint(skipped)


@pytest.mark.parametrize("name", ["kafka", "airflw"])
def test_skip_refuses_engines_and_unknown_names(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("EB_STACK_SKIP", name)
    with pytest.raises(StackError, match=rf"EB_STACK_SKIP names {name}.*fix: use only airflow, cdc, console"):
        stack.skip_list()


def test_a_missing_airflow_venv_fails_the_start_naming_the_fix(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setattr(airflow, "AIRFLOW", REPO_ROOT / ".venv-airflow-missing" / "bin" / "airflow")
    ctx = Ctx(State(tmp_path), Settings())
    with pytest.raises(StackError) as err:
        stack._check_artifacts([s for s in PROGRAMS if s.active(ctx)], ctx)
    lines = str(err.value).splitlines()
    # one line for the whole Airflow group, not one per program
    assert [line for line in lines if "airflow" in line.lower()] == [
        "  airflow: Airflow is not installed (.venv-airflow-missing/bin/airflow is missing) — fix: make "
        "airflow-install (make local-up does it), or EB_STACK_SKIP=airflow to run without the DAGs"]
    skipped = Ctx(State(tmp_path), Settings(), frozenset({"airflow"}))
    stack._check_artifacts([s for s in PROGRAMS if s.active(skipped)], skipped)  # opted out: no error


def test_missing_spark_jars_name_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EB_SPARK_JARS_DIR", str(tmp_path))
    with pytest.raises(PrerequisiteError, match=r"connector jars missing in .* fix: make spark-jars"):
        spark_jars_resolved(Ctx(State(tmp_path), Settings()))


# --- a checkout under a folder the postgres user cannot enter (root's mode-0700 home) ----------------
needs_root_and_postgres = pytest.mark.skipif(
    os.geteuid() != 0 or not any(p.pw_name == "postgres" for p in pwd.getpwall()),
    reason="runs as root with a `postgres` system user (as CI does)",
)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder every user can enter (pytest's own tmp root is mode 0700 itself)."""
    path = Path(tempfile.mkdtemp(prefix="eb-newcomer-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_root_and_postgres
def test_a_closed_checkout_keeps_the_cluster_outside(monkeypatch: pytest.MonkeyPatch, open_tmp: Path) -> None:
    tmp_path = open_tmp
    closed = tmp_path / "home"
    (closed / "checkout" / "local" / ".state").mkdir(parents=True)
    closed.chmod(0o700)
    monkeypatch.setenv("EB_STACK_PG_OUTSIDE_DIR", str(tmp_path / "outside"))
    ctx = Ctx(State(closed / "checkout" / "local" / ".state"), Settings())
    assert not postgres.can_enter(ctx.state.root, "postgres")
    home = postgres.data_dir(ctx).parent
    assert home.parent.parent == tmp_path / "outside" and home.name == "postgres"
    assert postgres.can_enter(home.parent, "postgres")

    closed.chmod(0o711)  # searchable: the cluster stays in the state folder
    assert postgres.can_enter(ctx.state.root, "postgres")
    assert postgres.data_dir(ctx) == ctx.state.root / "postgres" / "data"


def test_kafka_cluster_ids_never_look_like_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([b"\xf8" + b"\x00" * 15, b"\x01" * 16])  # the first encodes to "-AAA…"
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: uuid.UUID(bytes=next(draws)))
    cid = broker._cluster_id()
    assert cid == "AQEBAQEBAQEBAQEBAQEBAQ" and len(cid) == 22
