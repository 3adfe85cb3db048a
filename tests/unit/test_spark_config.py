"""emr_jobs pieces that need no SparkSession: settings, durations, one-line errors, progress files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emr_jobs.config import SparkSettings
from emr_jobs.errors import JobError, one_line
from emr_jobs.session import read_progress, write_progress
from eventbus.durations import duration_ms


def test_topic_overrides_map_catalog_names_to_scratch_topics() -> None:
    cfg = SparkSettings(topic_overrides="topic_app_events=t_a, topic_dead_letter = t_dl")
    assert (cfg.topic("topic_app_events"), cfg.topic("topic_dead_letter"), cfg.topic("topic_clickstream")) == (
        "t_a", "t_dl", "topic_clickstream")


def test_defaults_live_in_the_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EB_LOCAL_STATE_DIR", str(tmp_path))
    cfg = SparkSettings()
    assert cfg.checkpoints() == str(tmp_path / "spark" / "checkpoints")
    assert cfg.progress() == tmp_path / "spark" / "progress"
    assert SparkSettings(checkpoint_root="s3://b/spark/").checkpoints() == "s3://b/spark"


@pytest.mark.parametrize(("text", "ms"), [("30 days", 30 * 86_400_000), ("12 hours", 43_200_000),
                                          ("90 minutes", 5_400_000), ("1 second", 1000)])
def test_duration_ms(text: str, ms: int) -> None:
    assert duration_ms(text) == ms


def test_one_line_keeps_the_python_error_of_a_failed_worker() -> None:
    exc = JobError("query user_state failed: Job aborted: org.apache.spark.api.python.PythonException: "
                   "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'amount'\n\tat org...")
    assert one_line(exc) == "query user_state failed: KeyError: 'amount'"


def test_one_line_names_the_fix_for_java_errors() -> None:
    exc = RuntimeError("An error occurred while calling o1.start.\n: org.apache.kafka.common.errors."
                       "TimeoutException: Timed out waiting for a node assignment\n\tat org.apache.kafka...")
    line = one_line(exc)
    assert "\n" not in line and "EB_KAFKA_BOOTSTRAP" in line and "at org.apache" not in line


def test_progress_is_written_atomically(tmp_path: Path) -> None:
    write_progress(tmp_path, "lake", json.dumps({"name": "lake", "batchId": 3}))
    write_progress(tmp_path, "lake", json.dumps({"name": "lake", "batchId": 4}))
    assert read_progress(tmp_path, "lake") == {"name": "lake", "batchId": 4}
    assert [p.name for p in tmp_path.iterdir()] == ["lake.json"]
    assert read_progress(tmp_path, "missing") is None


def test_event_time_counts_reach_the_console(tmp_path: Path) -> None:
    from emr_jobs.session import event_time_counts
    from local.console import spark as console_spark

    progress = {"name": "app_events", "batchId": 3,
                "observedMetrics": {"app_events": {"events": 100, "clamped": 1}},
                "stateOperators": [{"operatorName": "dedupe", "numRowsDroppedByWatermark": 4,
                                    "customMetrics": {"numDroppedDuplicateRows": 2}},
                                   {"operatorName": "stateStoreSave", "numRowsDroppedByWatermark": 0}]}
    counts = event_time_counts(progress)
    assert counts == {"clamped": 1, "late_dropped": 4, "duplicates_dropped": 2}
    write_progress(tmp_path, "app_events", json.dumps({**progress, "ebEventTime": {"batch": counts,
                                                                                  "since_start": counts}}))
    [q] = console_spark.queries(tmp_path)["queries"]
    assert q["event_time"] == counts and q["event_time_batch"] == counts


def test_pool_file_declares_each_pool_once_and_is_named_by_its_content(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from emr_jobs.session import pool_file

    first = pool_file(["lake", "app_events", "lake", 'odd"&<name'], tmp_path)
    assert [p.get("name") for p in ET.parse(first).getroot().iter("pool")] == ["app_events", "lake", 'odd"&<name']
    assert pool_file(["app_events", "lake", 'odd"&<name'], tmp_path) == first  # same pools, same file
    assert pool_file(["app_events"], tmp_path) != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, pool_file(["app_events"], tmp_path).name])
