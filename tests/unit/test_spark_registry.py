"""The Spark jobs' one registry (``@job`` on each job module's start function, emr_jobs/jobs.py): read
without pyspark, checked against the catalog's readers/writers, and the same jobs the modules declare."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from emr_jobs.jobs import COMPONENT, registry, source_topics
from eventbus.catalog import load_catalog
from eventbus.exceptions import ConfigurationError

REPO = Path(__file__).resolve().parents[2]


def test_the_registry_and_the_submit_command_need_no_pyspark() -> None:
    code = ("import sys, emr_jobs.submit, emr_jobs.__main__; from emr_jobs.jobs import registry; "
            "names = registry().names(); assert 'pyspark' not in sys.modules, 'pyspark imported'; print(names)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "lake" in out.stdout


def test_every_job_reads_and_writes_only_what_the_catalog_grants_spark() -> None:
    catalog = load_catalog()
    jobs = list(registry())
    assert jobs
    for job in jobs:
        assert job.queries and job.reads, job
        assert set(job.reads) <= set(catalog.read_by(COMPONENT)), job
        assert set(job.writes) <= set(catalog.written_by(COMPONENT)), job
    queries = registry().queries()
    assert len(queries) == len(set(queries))
    # the lake archives what the catalog says: every topic spark reads, none other
    assert registry().get("lake").reads == source_topics() == tuple(catalog.read_by(COMPONENT))
    # and between them the jobs read every topic the catalog says spark reads
    assert {t for j in jobs for t in j.reads} == set(catalog.read_by(COMPONENT))


def test_the_registry_is_what_the_modules_declare() -> None:
    """The AST reading agrees with the decorators Python runs: each entry's start function carries the
    job's name, and every ``@job`` in emr_jobs is in the registry."""
    import pyspark  # noqa: F401  # here, not at the top: the rest of this file reads the registry without pyspark
    for job in registry():
        assert getattr(job.starter(), "job_name", None) == job.name
    declared = set()
    for py in sorted((REPO / "emr_jobs").glob("*.py")):
        module = importlib.import_module(f"emr_jobs.{py.stem}")
        declared |= {fn.job_name for fn in vars(module).values() if callable(fn) and hasattr(fn, "job_name")}
    assert declared == set(registry().names())


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> str:
    name = f"scratch_jobs_{uuid.uuid4().hex[:8]}"  # a fresh package per test: imports are cached
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "one.py").write_text("from emr_jobs.jobs import job\n" + body)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.mark.parametrize(("body", "says"), [
    ('@job("j", queries=("j",), reads=("topic_truth",))\ndef start(ctx): ...\n',
     "job j reads topic_truth, whose catalog readers do not list spark"),
    ('SINK = "topic_app_events"\n@job("j", queries=("j",), reads=("topic_app_events",), writes=(SINK,))\n'
     'def start(ctx): ...\n', "job j writes topic_app_events, whose catalog writers do not list spark"),
    ('@job("j", queries=("j",), reads=("topic_nope",))\ndef start(ctx): ...\n',
     "reads topic_nope, which is not in the catalog"),
    ('import os\n@job(os.environ["X"], queries=("j",), reads=("topic_app_events",))\ndef start(ctx): ...\n',
     "must be literals or module constants"),
    ('@job("j", queries=("j",), reads=("topic_app_events",))\ndef start(ctx): ...\n'
     '@job("j", queries=("k",), reads=("topic_app_events",))\ndef start2(ctx): ...\n', "job j is declared twice"),
], ids=["reads-ungranted", "writes-ungranted", "unknown-topic", "not-literal", "twice"])
def test_a_job_the_catalog_does_not_allow_fails_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             body: str, says: str) -> None:
    package = _package(tmp_path, monkeypatch, body)
    with pytest.raises(ConfigurationError, match=says):
        registry(package=package)


def test_a_new_job_module_is_registered_without_another_edit(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    package = _package(tmp_path, monkeypatch, 'Q = "q"\n@job("j", queries=(Q,), reads=ALL_READS, '
                                              'writes=("topic_dead_letter",))\ndef start(ctx): ...\n'
                                              'from emr_jobs.jobs import ALL_READS\n')
    [job] = list(registry(package=package))
    assert (job.name, job.queries, job.reads, job.module) == ("j", ("q",), source_topics(), f"{package}.one")


def test_a_job_touching_an_undeclared_topic_or_table_fails_as_its_query_is_built() -> None:
    from emr_jobs.config import SparkSettings
    from emr_jobs.errors import JobError
    from emr_jobs.streams import JobContext
    from eventbus.settings import Settings

    ctx = JobContext(spark=None, settings=Settings(), cfg=SparkSettings(topic_overrides="topic_app_events=t_a"),
                     codec=None)  # type: ignore[arg-type]
    app = ctx.for_job(registry().get("app_events"))
    assert app.source("topic_app_events") == "t_a" and app.sink("topic_processed_events") == "topic_processed_events"
    with pytest.raises(JobError, match="job app_events reads topic_cdc_changes but does not declare it"):
        app.source("topic_cdc_changes")
    with pytest.raises(JobError, match="job app_events writes topic_user_state but does not declare it"):
        app.sink("topic_user_state")
    published = {t.split(".")[1] for t in load_catalog().get("topic_cdc_changes").publication.tables}  # type: ignore[union-attr]
    assert ctx.tables("topic_cdc_changes", *sorted(published)) == tuple(sorted(published))
    with pytest.raises(JobError, match="table.s. refunds not in topic_cdc_changes's publication"):
        ctx.tables("topic_cdc_changes", "users", "refunds")
