"""Bad input to `python -m emr_jobs run`: one actionable line on stderr, exit 1, no Java stack trace.

The checks run before a SparkSession starts, so these take seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emr_jobs", "run", "--once", *args], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"EB_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, "Kafka broker at 127.0.0.1:1 unreachable — run `make local-up`"),
        ({"EB_SPARK_TOPIC_OVERRIDES": "topic_app_events=t_spark_no_such_topic"},
         "topic(s) t_spark_no_such_topic do not exist"),
        ({"EB_SPARK_CHECKPOINT_ROOT": "/proc/no-checkpoints-here"}, "set EB_SPARK_CHECKPOINT_ROOT"),
        ({"EB_SPARK_JARS_DIR": "/nonexistent"}, "run `make spark-jars`"),
    ],
    ids=["unreachable-broker", "missing-topic", "unwritable-checkpoint", "missing-jars"],
)
def test_bad_input_is_one_line(env: dict[str, str], says: str) -> None:
    out = run(env, "--jobs", "app_events")
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if ln.strip() and not ln.startswith(("{", "WARNING"))]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and says in lines[0], lines[0]
    assert "at org.apache" not in out.stderr and "Traceback" not in out.stderr


def test_unknown_job_is_one_line() -> None:
    out = run({}, "--jobs", "nope")
    assert out.returncode == 1 and "unknown job(s) nope — choose from" in out.stderr
