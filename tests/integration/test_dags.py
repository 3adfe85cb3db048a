"""Each DAG end to end with ``dag.test()`` for a fixed logical date: real HTTP to a replay server, the
real local Kafka (records decoded through the registry), the emulator's S3; a rerun of an interval keeps
ids and keys; a failing source is retried, then fails naming itself, with nothing of it published.

All runs happen in one .venv-airflow process (``local.airflow_cli.run_dags``: Airflow imported once),
their metadata in the stack's ``airflow_test`` database; the faults are set up front on the replay
server for the fault run's interval only. This process reads Kafka and S3 back.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from eventbus.aws import client
from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import Settings
from local.airflow_cli import dag_env, run_dags
from local.replay import apis
from local.replay.server import ReplayServer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "mwaa_dags"))
from extdata.destinations import load_destinations  # noqa: E402
from extdata.records import TOPIC, Interval, record_id  # noqa: E402

DATE = "2026-01-15T06:00:00Z"  # weather: 00-06h, maps: Jan 14, config-driven: 05-06h
FAULT_DATE = "2026-01-16T06:00:00Z"
FAULT_IV = Interval.parse("2026-01-16T05:00:00+00:00", "2026-01-16T06:00:00+00:00")
RUNS = [("weather_data_ingestion", DATE), ("maps_data_ingestion", DATE), ("config_driven_pipeline", DATE),
        ("config_driven_pipeline", DATE), ("config_driven_pipeline", FAULT_DATE)]
CODES = {d.code for d in load_destinations(REPO / "mwaa_dags/config/destinations.yaml")}


@pytest.fixture(scope="module")
def batch() -> dict[str, Any]:
    """Run RUNS once; every test below asserts on its part."""
    replay = ReplayServer(port=0, timeout_s=4).start()
    # Only the fault run's interval: hn.algolia.com answers 500, api.frankfurter.dev hangs past the timeout.
    replay.inject("hn.algolia.com", "500", match=f"created_at_i>={int(FAULT_IV.start.timestamp())}")
    replay.inject("api.frankfurter.dev", "timeout", match=f"/v1/{FAULT_IV.start:%Y-%m-%d}")
    env = dag_env(EB_DAGS_REPLAY_URL=replay.url, EB_DAGS_TASK_RETRIES="1", EB_DAGS_RETRY_DELAY_S="0",
                  EB_DAGS_HTTP_ATTEMPTS="2", EB_DAGS_HTTP_BACKOFF_S="0.2", EB_DAGS_HTTP_TIMEOUT_S="1.5")
    settings = Settings()
    try:
        start = end_offsets(settings, TOPIC)
        code, summaries, out = run_dags(RUNS, env)
        end = end_offsets(settings, TOPIC)
    finally:
        replay.stop()
    assert len(summaries) == len(RUNS), out[-6000:]
    run_ids = {s["run_id"]: i for i, s in enumerate(summaries)}
    records: list[list[dict[str, Any]]] = [[] for _ in RUNS]
    for _, rec in read_range(settings, start, end, TOPIC):
        if rec["run_id"] in run_ids:
            records[run_ids[rec["run_id"]]].append(rec)
    return {"code": code, "summaries": summaries, "out": out, "records": records, "stats": dict(replay.stats)}


def interval_of(summary: dict[str, Any]) -> Interval:
    return Interval.parse(summary["data_interval_start"], summary["data_interval_end"])


def raw_keys(source: str, interval: Interval) -> dict[str, Any]:
    settings = Settings()
    prefix = f"raw/external/{source}/dt={interval.start:%Y-%m-%d}/interval={interval.tag}/"
    listing = client("s3", settings).list_objects_v2(Bucket=settings.lake_bucket, Prefix=prefix)
    return {o["Key"]: o["LastModified"] for o in listing.get("Contents", [])}


def check_records(records: list[dict[str, Any]], interval: Interval) -> None:
    pairs = [(r["source"], r["entity"]) for r in records]
    assert len(pairs) == len(set(pairs)), "one record per (source, entity, interval)"
    for r in records:
        assert r["record_id"] == record_id(r["source"], r["entity"], interval)
        assert (r["data_interval_start"], r["data_interval_end"]) == (interval.start, interval.end)


@pytest.mark.parametrize(("index", "source", "hours"), [(0, "weather", 6), (1, "maps", 24)])
def test_city_dags_end_to_end(batch: dict[str, Any], index: int, source: str, hours: int) -> None:
    summary, records = batch["summaries"][index], batch["records"][index]
    assert summary["state"] == "success", batch["out"][-6000:]
    iv = interval_of(summary)
    assert iv.end - iv.start == timedelta(hours=hours)
    assert {r["entity"] for r in records} == CODES and {r["source"] for r in records} == {source}
    check_records(records, iv)
    metric = "travel_weather_score" if source == "weather" else "poi_total"
    assert all(r["metrics"][metric] >= 0 for r in records)
    assert len({r["metrics"][metric] for r in records}) > 3  # cities differ
    if source == "maps":
        assert all({"lat", "lon", "bookings", "poi_museum"} <= set(r["metrics"]) for r in records)
    landed = summary["tasks"]["extract"]["returned"]
    assert len(landed) == len(CODES) * (1 if source == "weather" else 2)
    assert set(landed) <= set(raw_keys(source, iv))


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


def ingest_results(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["returned"]["source"]: t["returned"] for name, t in summary["tasks"].items()
            if name.startswith("ingest[") and t.get("returned")}


def test_config_driven_pipeline_end_to_end(batch: dict[str, Any]) -> None:
    summary, records = batch["summaries"][2], batch["records"][2]
    assert summary["state"] == "success", batch["out"][-6000:]
    assert {t for t in summary["tasks"] if t.startswith("ingest[")} == {"ingest[0]", "ingest[1]", "ingest[2]"}
    iv = interval_of(summary)
    assert iv == Interval.parse("2026-01-15T05:00:00+00:00", "2026-01-15T06:00:00+00:00")
    check_records(records, iv)
    expected = expected_config(iv)
    assert {s: sum(r["source"] == s for r in records) for s in expected} == expected
    results = ingest_results(summary)
    assert {s: r["records"] for s, r in results.items()} == expected
    assert results["news_hackernews"]["pages"] > 1 and results["social_bluesky"]["pages"] > 1
    for source, result in results.items():
        assert set(result["raw_keys"]) == set(raw_keys(source, iv))


def test_rerun_of_an_interval_keeps_ids_and_keys(batch: dict[str, Any]) -> None:
    first, again = batch["summaries"][2], batch["summaries"][3]
    assert again["state"] == "success" and again["run_id"] != first["run_id"]
    assert interval_of(again) == interval_of(first)
    assert {r["record_id"] for r in batch["records"][3]} == {r["record_id"] for r in batch["records"][2]}
    assert len(batch["records"][3]) == len(batch["records"][2])
    keys_first = {s: r["raw_keys"] for s, r in ingest_results(first).items()}
    keys_again = {s: r["raw_keys"] for s, r in ingest_results(again).items()}
    assert keys_again == keys_first  # the same objects, overwritten
    for source, keys in keys_again.items():
        assert set(raw_keys(source, interval_of(again))) == set(keys)  # and nothing beside them


def test_failing_sources_retried_then_failed_by_name(batch: dict[str, Any]) -> None:
    summary, records, out = batch["summaries"][4], batch["records"][4], batch["out"]
    assert batch["code"] == 1 and summary["state"] == "failed"
    assert interval_of(summary) == FAULT_IV
    tasks = summary["tasks"]
    assert tasks["ingest[0]"]["state"] == "success"  # social_bluesky is not held back by the others
    for i in (1, 2):  # market_fx (timeout), news_hackernews (500): tried twice each (task retries=1)
        assert tasks[f"ingest[{i}]"]["state"] == "failed" and tasks[f"ingest[{i}]"]["try_number"] == 2
    # 2 HTTP attempts x 2 tries, each answered by the injected fault
    assert batch["stats"].get("hn.algolia.com 500") == 4
    assert batch["stats"].get("api.frankfurter.dev timeout") == 4
    assert "source 'news_hackernews': GET" in out and "answered HTTP 500" in out
    assert "source 'market_fx': GET" in out and "timed out after 1.5s" in out
    assert {r["source"] for r in records} == {"social_bluesky"}  # nothing of the failing sources
    assert raw_keys("news_hackernews", FAULT_IV) == {} and raw_keys("market_fx", FAULT_IV) == {}
