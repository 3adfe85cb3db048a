"""Each DAG end to end with ``dag.test()`` for a fixed logical date: real HTTP to a replay server, the
real local Kafka (records decoded through the registry), the emulator's S3; reruns are idempotent; a
failing source is retried, then fails naming itself, with nothing of it published.

The runs happen in .venv-airflow (``local.airflow_cli.run_dag``), their metadata in the stack's
``airflow_test`` database; this process reads Kafka and S3 back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from eventbus.aws import client
from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import Settings
from local.airflow_cli import dag_env, run_dag
from local.replay import apis
from local.replay.server import ReplayServer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "mwaa_dags"))
from extdata.destinations import load_destinations  # noqa: E402
from extdata.records import TOPIC, Interval, record_id  # noqa: E402

DATE = "2026-01-15T06:00:00Z"  # weather: 00-06h, maps: Jan 14, config-driven: 05-06h
FAULT_DATE = "2026-01-16T06:00:00Z"
CODES = {d.code for d in load_destinations(REPO / "mwaa_dags/config/destinations.yaml")}
RAW = "raw/external"


@pytest.fixture(scope="module")
def replay() -> Any:
    server = ReplayServer(port=0, timeout_s=4).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(replay: ReplayServer) -> dict[str, str]:
    return dag_env(EB_DAGS_REPLAY_URL=replay.url, EB_DAGS_TASK_RETRIES="1", EB_DAGS_RETRY_DELAY_S="0",
                   EB_DAGS_HTTP_ATTEMPTS="2", EB_DAGS_HTTP_BACKOFF_S="0.2", EB_DAGS_HTTP_TIMEOUT_S="1.5")


def run_and_read(dag_id: str, date: str, env: dict[str, str]) -> tuple[int, dict[str, Any], str, list[dict[str, Any]]]:
    settings = Settings()
    start = end_offsets(settings, TOPIC)
    code, summary, out = run_dag(dag_id, date, env)
    assert summary is not None, out[-4000:]
    records = [r for _, r in read_range(settings, start, end_offsets(settings, TOPIC), TOPIC,
                                        containing=summary["run_id"].encode())
               if r["run_id"] == summary["run_id"]]
    return code, summary, out, records


def raw_keys(source: str, interval: Interval) -> dict[str, Any]:
    settings = Settings()
    prefix = f"{RAW}/{source}/dt={interval.start:%Y-%m-%d}/interval={interval.tag}/"
    listing = client("s3", settings).list_objects_v2(Bucket=settings.lake_bucket, Prefix=prefix)
    return {o["Key"]: o["LastModified"] for o in listing.get("Contents", [])}


def interval_of(summary: dict[str, Any]) -> Interval:
    return Interval.parse(summary["data_interval_start"], summary["data_interval_end"])


def check_records(records: list[dict[str, Any]], interval: Interval) -> None:
    pairs = [(r["source"], r["entity"]) for r in records]
    assert len(pairs) == len(set(pairs)), "one record per (source, entity, interval)"
    for r in records:
        assert r["record_id"] == record_id(r["source"], r["entity"], interval)
        assert (r["data_interval_start"], r["data_interval_end"]) == (interval.start, interval.end)


@pytest.mark.parametrize("dag_id", ["weather_data_ingestion", "maps_data_ingestion"])
def test_city_dags_end_to_end(dag_id: str, env: dict[str, str]) -> None:
    code, summary, out, records = run_and_read(dag_id, DATE, env)
    assert code == 0 and summary["state"] == "success", out[-4000:]
    iv = interval_of(summary)
    source = "weather" if dag_id.startswith("weather") else "maps"
    assert iv.end - iv.start == (iv.end - iv.start).__class__(hours=6 if source == "weather" else 24)
    assert {r["entity"] for r in records} == CODES and {r["source"] for r in records} == {source}
    check_records(records, iv)
    metric = "travel_weather_score" if source == "weather" else "poi_total"
    assert all(r["metrics"][metric] >= 0 for r in records)
    assert len({r["metrics"][metric] for r in records}) > 3  # cities differ
    if source == "maps":
        assert all({"lat", "lon", "bookings", "poi_museum"} <= set(r["metrics"]) for r in records)
    assert len(raw_keys(source, iv)) == len(CODES) * (1 if source == "weather" else 2)


def expected_config(iv: Interval) -> dict[str, int]:
    q = iv.placeholders()
    return {
        "social_bluesky": apis.bluesky_search({"q": "travel vietnam", "since": q["start_iso"], "until": q["end_iso"],
                                               "limit": "1000"})[1]["hitsTotal"],
        "market_fx": 9,
        "news_hackernews": apis.hn_search_by_date(
            {"numericFilters": f"created_at_i>={q['start_ts']},created_at_i<{q['end_ts']}", "query": "travel",
             "hitsPerPage": "1000"})[1]["nbHits"],
    }


FIRST: dict[str, Any] = {}


def test_config_driven_pipeline_end_to_end(env: dict[str, str]) -> None:
    code, summary, out, records = run_and_read("config_driven_pipeline", DATE, env)
    assert code == 0 and summary["state"] == "success", out[-4000:]
    assert {t for t in summary["tasks"] if t.startswith("ingest[")} == {"ingest[0]", "ingest[1]", "ingest[2]"}
    iv = interval_of(summary)
    check_records(records, iv)
    counts = {s: sum(r["source"] == s for r in records) for s in expected_config(iv)}
    assert counts == expected_config(iv)
    FIRST.update(ids={r["record_id"] for r in records},
                 keys={s: raw_keys(s, iv) for s in counts}, interval=iv)
    assert all(FIRST["keys"].values())


def test_rerun_of_an_interval_keeps_ids_and_keys(env: dict[str, str]) -> None:
    if not FIRST:
        pytest.skip("needs test_config_driven_pipeline_end_to_end's first run")
    code, summary, out, records = run_and_read("config_driven_pipeline", DATE, env)
    assert code == 0, out[-4000:]
    assert interval_of(summary) == FIRST["interval"]
    assert {r["record_id"] for r in records} == FIRST["ids"]
    again = {s: raw_keys(s, FIRST["interval"]) for s in FIRST["keys"]}
    for source, keys in again.items():
        assert set(keys) == set(FIRST["keys"][source])  # same objects ...
        assert all(keys[k] >= FIRST["keys"][source][k] for k in keys)  # ... overwritten


def test_failing_sources_retried_then_failed_by_name(env: dict[str, str], replay: ReplayServer) -> None:
    replay.inject("hn.algolia.com", "500")
    replay.inject("api.frankfurter.dev", "timeout")
    before = dict(replay.stats)
    try:
        code, summary, out, records = run_and_read("config_driven_pipeline", FAULT_DATE, env)
    finally:
        replay.clear()
    assert code == 1 and summary["state"] == "failed"
    tasks = summary["tasks"]
    assert tasks["ingest[0]"]["state"] == "success"  # social_bluesky is not held back by the others
    for i in (1, 2):  # market_fx (timeout), news_hackernews (500): tried twice each (task retries=1)
        assert tasks[f"ingest[{i}]"] == {"state": "failed", "try_number": 2}
    for host in ("hn.algolia.com", "api.frankfurter.dev"):  # 2 HTTP attempts x 2 tries
        assert replay.stats[host] - before.get(host, 0) == 4
    assert "source 'news_hackernews': GET" in out and "answered HTTP 500" in out
    assert "source 'market_fx': GET" in out and "timed out" in out
    assert {r["source"] for r in records} == {"social_bluesky"}  # nothing of the failing sources
    iv = interval_of(summary)
    assert raw_keys("news_hackernews", iv) == {} and raw_keys("market_fx", iv) == {}
