"""Each DAG end to end with ``dag.test()`` against a replay server that fails the way the real APIs do,
the real local Kafka (records decoded through the registry) and the emulator's S3.

One interval of each DAG is run three times: the raw zone holds one set of objects (what an earlier attempt
left beyond it is removed) and a consumer following the documented rule (``extdata.records.latest``: one
record per ``record_id``) sees each (source, entity, interval) once. Then a fault run: a 500 and a timeout
are retried then fail naming their source with nothing of it published, while a 429 with Retry-After is
waited out and succeeds.

All runs happen in one .venv-airflow process (``local.stack.airflow_cli.run_dags``: Airflow imported once),
metadata in the stack's ``airflow_test`` database; faults are set up front for the fault run's interval.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from eventbus.aws import client
from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import Settings
from local.replay.server import ReplayServer
from local.stack.airflow_cli import dag_env, run_dags

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "mwaa_dags"))
from extdata.destinations import load_destinations  # noqa: E402
from extdata.records import TOPIC, Interval, interval_prefix, latest, record_id  # noqa: E402

# Saturday 2026-01-17 01:00: weather 18-24h of the 16th (archive: > 92 days ago), maps the 16th,
# config-driven 00-01h of the 17th (market_fx is due at 00h; its answer is Friday's, dated the 16th).
DATE = "2026-01-17T00:00:00Z"
CONFIG_DATE = "2026-01-17T01:00:00Z"
FAULT_DATE = "2026-01-19T01:00:00Z"
FAULT_IV = Interval.parse("2026-01-19T00:00:00+00:00", "2026-01-19T01:00:00+00:00")
RERUNS = 3
RUNS = [*[("weather_data_ingestion", DATE)] * RERUNS, *[("maps_data_ingestion", DATE)] * RERUNS,
        *[("config_driven_pipeline", CONFIG_DATE)] * RERUNS, ("config_driven_pipeline", FAULT_DATE)]
CODES = {d.code for d in load_destinations(REPO / "mwaa_dags/config/destinations.yaml")}
STALE = "stale-from-an-earlier-attempt.json"


def s3() -> tuple[Any, str]:
    settings = Settings()
    return client("s3", settings), settings.lake_bucket


def raw_keys(source: str, interval: Interval) -> set[str]:
    s3c, bucket = s3()
    listing = s3c.list_objects_v2(Bucket=bucket, Prefix=interval_prefix("raw/external", source, interval))
    return {o["Key"] for o in listing.get("Contents", [])}


@pytest.fixture(scope="module")
def batch() -> dict[str, Any]:
    """Run RUNS once; every test below asserts on its part."""
    replay = ReplayServer(port=0, timeout_s=4, rate_limits={"nominatim.openstreetmap.org": 0.2}).start()
    # The fault run's interval only: hn.algolia.com answers 500, api.frankfurter.dev hangs past the client's
    # timeout, bsky.social's search answers 429 once with Retry-After: 1 (waited out, then it succeeds).
    replay.inject("hn.algolia.com", "500", match=f"created_at_i>={int(FAULT_IV.start.timestamp())}")
    replay.inject("api.frankfurter.dev", "timeout", match=f"/v1/{FAULT_IV.start:%Y-%m-%d}")
    replay.inject("bsky.social", "429", times=1, retry_after=1, match=f"since={FAULT_IV.start:%Y-%m-%dT%H}")
    env = dag_env(EB_DAGS_REPLAY_URL=replay.url, EB_DAGS_TASK_RETRIES="1", EB_DAGS_RETRY_DELAY_S="0",
                  EB_DAGS_HTTP_ATTEMPTS="2", EB_DAGS_HTTP_BACKOFF_S="0.2", EB_DAGS_HTTP_TIMEOUT_S="1.5",
                  EB_DAGS_GEOCODE_INTERVAL_S="0.25")
    # What an earlier, longer attempt of each interval left: the reruns must remove it.
    s3c, bucket = s3()
    stale = [interval_prefix("raw/external", src, Interval.parse(*iv)) + STALE for src, iv in (
        ("weather", ("2026-01-16T18:00:00+00:00", "2026-01-17T00:00:00+00:00")),
        ("maps", ("2026-01-16T00:00:00+00:00", "2026-01-17T00:00:00+00:00")),
        ("news_hackernews", ("2026-01-17T00:00:00+00:00", "2026-01-17T01:00:00+00:00")))]
    for key in stale:
        s3c.put_object(Bucket=bucket, Key=key, Body=b"{}")
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
    return {"code": code, "summaries": summaries, "out": out, "records": records, "stats": dict(replay.stats),
            "stale": stale}


def interval_of(summary: dict[str, Any]) -> Interval:
    return Interval.parse(summary["data_interval_start"], summary["data_interval_end"])


def reruns(batch: dict[str, Any], dag_id: str) -> list[int]:
    return [i for i, (d, when) in enumerate(RUNS) if d == dag_id and when != FAULT_DATE]


def returned(summary: dict[str, Any], task: str) -> Any:
    return summary["tasks"][task].get("returned")


@pytest.mark.parametrize(("dag_id", "source", "hours"), [("weather_data_ingestion", "weather", 6),
                                                          ("maps_data_ingestion", "maps", 24)])
def test_city_dags_end_to_end(batch: dict[str, Any], dag_id: str, source: str, hours: int) -> None:
    i = reruns(batch, dag_id)[0]
    summary, records = batch["summaries"][i], batch["records"][i]
    assert summary["state"] == "success", batch["out"][-6000:]
    iv = interval_of(summary)
    assert iv.end - iv.start == timedelta(hours=hours)
    assert {r["entity"] for r in records} == CODES and {r["source"] for r in records} == {source}
    for r in records:
        assert r["record_id"] == record_id(source, r["entity"], iv)
        assert (r["data_interval_start"], r["data_interval_end"]) == (iv.start, iv.end)
    metric = "travel_weather_score" if source == "weather" else "poi_total"
    assert len({r["metrics"][metric] for r in records}) > 3  # cities differ
    if source == "weather":  # > 92 days old: the archive, labelled as reanalysis, not as a forecast
        assert {(r["attributes"]["api"], r["attributes"]["value_type"]) for r in records} == {
            ("open-meteo /v1/archive", "reanalysis")}
    else:
        assert all({"lat", "lon", "bookings", "poi_museum"} <= set(r["metrics"]) for r in records)


def test_config_driven_pipeline_end_to_end(batch: dict[str, Any]) -> None:
    i = reruns(batch, "config_driven_pipeline")[0]
    summary, records = batch["summaries"][i], batch["records"][i]
    assert summary["state"] == "success", batch["out"][-6000:]
    iv = interval_of(summary)
    assert iv == Interval.parse("2026-01-17T00:00:00+00:00", "2026-01-17T01:00:00+00:00")
    results = {t[len("ingest_"):]: summary["tasks"][t].get("returned") for t in summary["tasks"]}
    # Bluesky logged in with the app password and paged past page 1 (the public AppView would 403 there)
    assert results["social_bluesky"]["pages"] > 1 and not results["social_bluesky"]["truncated"]
    by_source = Counter(r["source"] for r in records)
    assert results["news_hackernews"]["pages"] == max(1, -(-by_source["news_hackernews"] // 8))  # hitsPerPage 8
    assert by_source == {s: r["records"] for s, r in results.items()}
    fx = [r for r in records if r["source"] == "market_fx"]
    assert len(fx) == 12 and "VND" not in {r["entity"] for r in fx}
    friday = Interval.parse("2026-01-16T00:00:00+00:00", "2026-01-17T00:00:00+00:00")  # a Saturday run
    assert {(r["data_interval_start"], r["data_interval_end"]) for r in fx} == {(friday.start, friday.end)}
    assert {r["record_id"] for r in fx} == {record_id("market_fx", r["entity"], friday) for r in fx}


def test_three_reruns_one_set_of_raw_objects_each_record_once(batch: dict[str, Any]) -> None:
    for dag_id in ("weather_data_ingestion", "maps_data_ingestion", "config_driven_pipeline"):
        idx = reruns(batch, dag_id)
        summaries = [batch["summaries"][i] for i in idx]
        assert all(s["state"] == "success" for s in summaries), (dag_id, batch["out"][-4000:])
        assert len({s["run_id"] for s in summaries}) == RERUNS
        assert len({interval_of(s) for s in summaries}) == 1
        iv = interval_of(summaries[0])
        published = [r for i in idx for r in batch["records"][i]]
        per_run = [len(batch["records"][i]) for i in idx]
        assert per_run[0] > 0 and len(set(per_run)) == 1, per_run  # delete-policy topic: each run publishes all
        seen = latest(published)  # the consumers' rule
        assert len(seen) == per_run[0]
        keys = Counter((r["source"], r["entity"], r["data_interval_start"], r["data_interval_end"]) for r in seen)
        assert set(keys.values()) == {1}
        assert {r["run_id"] for r in seen} == {summaries[-1]["run_id"]}  # the latest fetch wins
        # the raw zone: exactly the last run's objects, the earlier attempt's leftovers gone
        if dag_id == "config_driven_pipeline":
            landed = {s: set(r["raw_keys"]) for s, r in (
                (t[len("ingest_"):], summaries[-1]["tasks"][t].get("returned")) for t in summaries[-1]["tasks"])
                if r}
            for source, keys_ in landed.items():
                assert raw_keys(source, iv) == keys_, source
        else:
            source = "weather" if dag_id.startswith("weather") else "maps"
            expected = {k for t in ("extract", "geocode", "count_pois") if t in summaries[-1]["tasks"]
                        for k in returned(summaries[-1], t)}
            assert raw_keys(source, iv) == expected and len(expected) == len(CODES) * (1 if source == "weather" else 2)
    s3c, bucket = s3()
    assert [k for k in batch["stale"] if s3c.list_objects_v2(Bucket=bucket, Prefix=k).get("KeyCount")] == []


def test_failing_sources_retried_then_failed_by_name_429_waited_out(batch: dict[str, Any]) -> None:
    summary, records, out = batch["summaries"][-1], batch["records"][-1], batch["out"]
    assert batch["code"] == 1 and summary["state"] == "failed"
    assert interval_of(summary) == FAULT_IV
    tasks = summary["tasks"]
    assert tasks["ingest_social_bluesky"]["state"] == "success"  # after the 429's Retry-After; not held back
    assert batch["stats"].get("bsky.social 429") == 1
    for t in ("ingest_market_fx", "ingest_news_hackernews"):  # timeout, 500: tried twice each (task retries=1)
        assert tasks[t]["state"] == "failed" and tasks[t]["try_number"] == 2, (t, tasks[t])
    assert batch["stats"].get("hn.algolia.com 500") == 4  # 2 HTTP attempts x 2 tries
    assert batch["stats"].get("api.frankfurter.dev timeout") == 4
    assert "source 'news_hackernews': GET" in out and "answered HTTP 500" in out
    assert "source 'market_fx': GET" in out and "timed out after 1.5s" in out
    assert "ALERT dag config_driven_pipeline task ingest_news_hackernews failed for good" in out
    cw = client("cloudwatch", Settings())  # the failure callback's metric, which the console shows
    dims = [m["Dimensions"] for m in cw.list_metrics(Namespace="TravelDataSources/DAGs",
                                                      MetricName="DagRunFailed")["Metrics"]]
    assert [{"Name": "DagId", "Value": "config_driven_pipeline"},
            {"Name": "TaskId", "Value": "ingest_news_hackernews"}] in dims
    assert {r["source"] for r in records} == {"social_bluesky"}  # nothing of the failing sources
    assert raw_keys("news_hackernews", FAULT_IV) == set() and raw_keys("market_fx", FAULT_IV) == set()
    print(json.dumps({s["dag_id"] + "@" + s["data_interval_start"]: s["seconds"] for s in batch["summaries"]}))


def test_page_limit_publishes_what_it_fetched_then_fails_without_retry(tmp_path: Path) -> None:
    """news_hackernews with max_pages 1 on an hour with more than one page: the task lands and publishes page 1,
    then fails on its first try (a retry would hit the same limit) naming the limit, and the alert fires."""
    from local.replay import apis

    def pages(hour: Interval) -> int:
        q = {"query": "travel", "tags": "story", "hitsPerPage": "8", "page": "0",
             "numericFilters": f"created_at_i>={int(hour.start.timestamp())},created_at_i<{int(hour.end.timestamp())}"}
        return int(apis.call("hn.algolia.com", "/api/v1/search_by_date", q).body["nbPages"])

    hour = next(iv for h in range(24) if pages(iv := Interval.parse(f"2026-01-21T{h:02d}:00:00+00:00",
                                                                   f"2026-01-21T{h:02d}:59:59+00:00")) > 1)
    hour = Interval(hour.start, hour.start + timedelta(hours=1))
    config = (REPO / "mwaa_dags/config/sources.yaml").read_text()
    assert "      record_path: hits\n" in config
    (tmp_path / "sources.yaml").write_text(config.replace("      record_path: hits\n",
                                                          "      record_path: hits\n      max_pages: 1\n"))
    replay = ReplayServer(port=0, timeout_s=4).start()
    env = dag_env(EB_DAGS_REPLAY_URL=replay.url, EB_DAGS_TASK_RETRIES="2", EB_DAGS_RETRY_DELAY_S="0",
                  EB_DAGS_SOURCES_PATH=str(tmp_path / "sources.yaml"))
    settings = Settings()
    try:
        start = end_offsets(settings, TOPIC)
        code, summaries, out = run_dags([("config_driven_pipeline", f"{hour.end:%Y-%m-%dT%H:%M:%SZ}")], env)
        end = end_offsets(settings, TOPIC)
    finally:
        replay.stop()
    assert len(summaries) == 1, out[-6000:]
    task = summaries[0]["tasks"]["ingest_news_hackernews"]
    assert code == 1 and task["state"] == "failed" and task["try_number"] == 1, (task, out[-4000:])
    assert "source 'news_hackernews': stopped at max_pages=1" in out and "raise endpoint.max_pages" in out
    assert "ALERT dag config_driven_pipeline task ingest_news_hackernews failed for good" in out
    news = [r for _, r in read_range(settings, start, end, TOPIC)
            if r["run_id"] == summaries[0]["run_id"] and r["source"] == "news_hackernews"]
    assert len(news) == 8  # page 1 was published (hitsPerPage 8), not lost with the failure
    assert len(raw_keys("news_hackernews", hour)) == 1
