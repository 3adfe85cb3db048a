"""A new source is three files — its class, its schema, its catalog line — and nothing else changes.

The repository's tracked files (``git ls-files``, nothing else) are copied to a temporary folder, committed
there as the baseline, and exactly three files are added: a ``Source`` subclass with its own new topic and
``default_rate``, its Avro schema, its catalog line (appended to ``schemas/topics.yaml``). In that copy,
with the same interpreter (.venv reused, not rebuilt):

1. the catalog, access, docs and simulators unit tests pass;
2. the bootstrap (``python -m lambdas.bootstrap``, what `make local-up` runs) creates the topic on the
   shared Kafka — its name carries a random suffix, so runs never collide — and registers its schema;
3. the default scenario runs the source at its declared rate with no scenario line: a short run
   (``--only``, no ``--rate``) puts records in Kafka that decode with the copy's catalog;
4. the Spark lake job's topics (``emr_jobs.jobs.registry()``) and the console's topic list
   (``local.console.topics.catalog_topics``) include it;
5. ``git status`` in the copy shows those three files and nothing else, and the catalog's diff only adds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import REPO_ROOT, Settings
from tests.support.harness import delete_topics

SOURCE = '''"""Service heartbeats: one per service and tick, ~1 in 10 unhealthy."""

from lambdas.simulators.sources.base import Keyed, Source

SERVICES = ("search-api", "booking-api", "payment-svc")


class Heartbeat(Source):
    name = "heartbeat"
    topic = "{topic}"
    default_rate = 0.2

    def generate(self, timestamps: list[int]) -> list[Keyed]:
        out: list[Keyed] = []
        for ts in timestamps:
            service = self.rng.choice(SERVICES)
            out.append((service, {{"heartbeat_id": f"{{self.stream}}-{{ts}}-{{len(out)}}", "service": service,
                                  "ts": ts, "healthy": self.rng.random() < 0.9}}))
        return out
'''

SCHEMA = {
    "type": "record", "name": "Heartbeat", "namespace": "com.travel.events",
    "doc": "A service heartbeat (the new-source copy test).",
    "fields": [
        {"name": "heartbeat_id", "type": "string"},
        {"name": "service", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "healthy", "type": "boolean"},
    ],
}

CATALOG_LINE = """  {topic}:
    partitions: 2
    cleanup_policy: delete
    retention_ms: 3600000
    key: service
    schema: heartbeat.avsc
    writers: [simulators]
    readers: [spark, console]
"""

UNIT_TESTS = ["tests/unit/test_catalog.py", "tests/unit/test_catalog_access.py", "tests/unit/test_docs_catalog.py",
              "tests/unit/test_simulators_control.py", "tests/unit/test_simulators_records.py"]
NEW_FILES = {"lambdas/simulators/sources/heartbeat.py", "schemas/heartbeat.avsc"}
COUNT = 40


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


def copy_repository(dest: Path) -> None:
    """The tracked files as they are in the work tree (nothing untracked: no .venv, state or caches),
    committed in a fresh repository so `git status` there shows exactly what the test adds."""
    for rel in _git(REPO_ROOT, "ls-files", "-z").split("\0"):
        src = REPO_ROOT / rel
        if rel and src.is_file():  # a tracked file deleted in the work tree is not part of the copy
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel, follow_symlinks=False)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "--no-verify", "-m", "baseline")


def run_in(copy: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(copy), "EB_PROFILE": "local", "EB_LOG_LEVEL": "WARNING",
           "EB_CATALOG_PATH": str(copy / "schemas" / "topics.yaml")}
    env.pop("EB_SIMULATORS_SOURCE_DIRS", None)
    return subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_new_source_is_three_files_on_a_copy_of_the_repository(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    copy_repository(copy)
    topic = f"topic_heartbeat_{uuid.uuid4().hex[:8]}"
    # the three files
    (copy / "lambdas/simulators/sources/heartbeat.py").write_text(SOURCE.format(topic=topic))
    (copy / "schemas/heartbeat.avsc").write_text(json.dumps(SCHEMA, indent=2) + "\n")
    catalog = copy / "schemas/topics.yaml"
    catalog.write_text(catalog.read_text().rstrip("\n") + "\n" + CATALOG_LINE.format(topic=topic))

    where = run_in(copy, "-c", "import eventbus, lambdas; print(eventbus.__file__, lambdas.__path__[0])")
    assert where.stdout.split() == [str(copy / "eventbus/__init__.py"), str(copy / "lambdas")], where.stderr

    # 1. the unit and docs checks, in the copy
    unit = run_in(copy, "-m", "pytest", *UNIT_TESTS, "-q", "-x", "-p", "no:cacheprovider", timeout=300)
    assert unit.returncode == 0, unit.stdout[-3000:] + unit.stderr[-2000:]
    assert " passed" in unit.stdout and "heartbeat" in run_in(copy, "-m", "lambdas.simulators", "sources").stdout

    settings = Settings(profile="local", catalog_path=catalog)
    try:
        # 2. the bootstrap applies the copy's catalog: the topic is created and its schema registered
        boot = run_in(copy, "-m", "lambdas.bootstrap", "--json", timeout=180)
        assert boot.returncode == 0, boot.stdout[-2000:] + boot.stderr[-2000:]
        report = json.loads(boot.stdout)
        assert topic in report["topics"]["created"] and topic in report["schemas"]

        # 3. the default scenario runs it at its declared rate: --only, no --rate, no scenario line
        out = tmp_path / "report.json"
        run = run_in(copy, "-m", "lambdas.simulators", "run", "--only", "heartbeat", "--count", str(COUNT),
                     "--speed", "max", "--seed", "7", "--display", "off", "--set", "truth.enabled=false",
                     "--report", str(out))
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert "target=0.20 events/s" in run.stderr  # the class's default_rate
        assert json.loads(out.read_text())["sources"]["heartbeat"]["emitted"] == COUNT
        records = list(read_range(settings, {}, end_offsets(settings, topic), topic))
        assert len(records) == COUNT
        assert {key.decode() for key, _ in records} == {rec["service"] for _, rec in records}  # type: ignore[union-attr]
        assert len({rec["heartbeat_id"] for _, rec in records}) == COUNT

        # 4. the lake archives it and the console lists it — neither was edited
        lists = run_in(copy, "-c", "import json\n"
                       "from eventbus.catalog import load_catalog\n"
                       "from emr_jobs.jobs import registry\n"
                       "from local.console.topics import catalog_topics\n"
                       "print(json.dumps({'lake': list(registry().jobs['lake'].reads),\n"
                       "                  'console': catalog_topics(load_catalog())}))")
        assert lists.returncode == 0, lists.stderr[-2000:]
        found = json.loads(lists.stdout)
        assert topic in found["lake"] and topic in found["console"]
    finally:
        delete_topics(settings, [topic])

    # 5. nothing else changed
    status = _git(copy, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == sorted([*(f"?? {f}" for f in NEW_FILES), " M schemas/topics.yaml"]), status
    added, removed, _ = _git(copy, "diff", "--numstat", "schemas/topics.yaml").split("\t")
    assert int(added) == len(CATALOG_LINE.splitlines()) and int(removed) == 0
