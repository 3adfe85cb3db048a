"""The DAGs' shared code without Airflow: declarative sources, fetch path, records, replay server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "mwaa_dags"))  # as Airflow and MWAA put the DAGs folder on sys.path

from extdata.destinations import load_destinations  # noqa: E402
from extdata.exceptions import ConfigError, SourceError  # noqa: E402
from extdata.http import Fetcher  # noqa: E402
from extdata.records import Interval, raw_key, record_id  # noqa: E402
from extdata.settings import DagSettings  # noqa: E402
from extdata.sources import fetch_pages, load_sources, to_records  # noqa: E402
from extdata.weather import travel_weather_score  # noqa: E402

from local.replay import apis  # noqa: E402
from local.replay.server import ReplayServer  # noqa: E402

SOURCES = REPO / "mwaa_dags" / "config" / "sources.yaml"
IV = Interval.parse("2026-01-15T05:00:00+00:00", "2026-01-15T06:00:00+00:00")


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer(port=0, timeout_s=2).start()
    yield server
    server.stop()


def fast(replay: ReplayServer, **kw: object) -> DagSettings:
    values = {"replay_url": replay.url, "http_attempts": 2, "http_backoff_s": 0.05, "http_timeout_s": 0.5, **kw}
    return DagSettings(**values)


# --- declarative config ----------------------------------------------------------------------
def test_committed_sources_load() -> None:
    cfg = load_sources(SOURCES)
    assert [s.name for s in cfg.sources] == ["social_bluesky", "market_fx", "news_hackernews"]
    assert {s.kind for s in cfg.sources} == {"social", "market", "news"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("      paginator: {type: cursor,", "      pagintor: {type: cursor,",
         "unknown key 'endpoint.pagintor'"),
        ("    base_url: https://hn.algolia.com", "    base_ur: https://hn.algolia.com", "unknown key 'base_ur'"),
        ("cursor_path: cursor,", "cursor_pth: cursor,", "unknown key 'endpoint.paginator.cursor_pth'"),
        ("      record_path: hits\n", "      record_path: hits\n      max_page: 3\n",
         "unknown key 'endpoint.max_page'"),
        ("      entity: objectID\n", "", "missing key 'fields.entity'"),
    ],
)
def test_wrong_key_is_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = SOURCES.read_text()
    assert old in text
    bad = tmp_path / "sources.yaml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_sources(bad)
    assert message in str(err.value)
    assert "source '" in str(err.value)  # which entry


def test_duplicate_source_name_refused(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text(SOURCES.read_text().replace("name: market_fx", "name: social_bluesky"))
    with pytest.raises(ConfigError, match="declared twice"):
        load_sources(bad)


def test_destinations_match_the_simulated_world() -> None:
    from lambdas.simulators.places import DESTINATIONS

    ours = {(d.code, d.name, d.lat, d.lon) for d in load_destinations(REPO / "mwaa_dags/config/destinations.yaml")}
    assert ours == {(d.code, d.name, d.lat, d.lon) for d in DESTINATIONS}


# --- records -----------------------------------------------------------------------------------
def test_ids_and_keys_depend_on_source_entity_interval_only() -> None:
    other = Interval.parse("2026-01-15T06:00:00+00:00", "2026-01-15T07:00:00+00:00")
    assert record_id("news", "1", IV) == record_id("news", "1", IV)
    assert len({record_id("news", "1", IV), record_id("news", "2", IV), record_id("news", "1", other),
                record_id("social", "1", IV)}) == 4
    assert raw_key("raw/external", "news", IV, "page-0001") == (
        "raw/external/news/dt=2026-01-15/interval=20260115T0500Z_20260115T0600Z/page-0001.json")


def test_travel_weather_score() -> None:
    assert travel_weather_score(23, 0, 10) == 100
    assert travel_weather_score(23, 0, 10) > travel_weather_score(33, 0, 10) > travel_weather_score(38, 0, 10)
    assert travel_weather_score(23, 5, 10) < travel_weather_score(23, 1, 10)
    assert travel_weather_score(45, 30, 90) == 0


def test_urls_go_to_the_replay_server_only_when_set() -> None:
    local = DagSettings(replay_url="http://127.0.0.1:8090")
    assert local.url("https://hn.algolia.com", "/api/v1/search_by_date") == (
        "http://127.0.0.1:8090/hn.algolia.com/api/v1/search_by_date")
    assert DagSettings(replay_url="").url("https://hn.algolia.com", "/x") == "https://hn.algolia.com/x"


# --- the one fetch path, against the replay server over HTTP -------------------------------------
def expected_counts(iv: Interval) -> dict[str, int]:
    """What the replay server holds for ``iv`` per source (in-process, one big page)."""
    q = iv.placeholders()
    token = {"authorization": "Bearer replay." + "0" * 32}
    return {
        "social_bluesky": apis.call("bsky.social", "/xrpc/app.bsky.feed.searchPosts",
                                    {"q": "travel vietnam", "since": q["start_iso"], "until": q["end_iso"],
                                     "limit": "100"}, headers=token).body["hits_total"],
        "market_fx": 12,
        "news_hackernews": apis.call("hn.algolia.com", "/api/v1/search_by_date", {
            "numericFilters": f"created_at_i>={q['start_ts']},created_at_i<{q['end_ts']}", "query": "travel",
            "hitsPerPage": "1000"}).body["nbHits"],
    }


def test_every_page_of_every_source(replay: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_DAGS_SECRET_BLUESKY_APP_PASSWORD", "abcd-efgh-ijkl-mnop")
    s = fast(replay)
    expected = expected_counts(IV)
    per_page = {"social_bluesky": 10, "market_fx": 10**6, "news_hackernews": 8}
    with Fetcher(s) as f:
        for spec in load_sources(SOURCES).sources:
            pages = fetch_pages(spec, IV, f, s).pages
            assert len(pages) == max(1, -(-expected[spec.name] // per_page[spec.name])), spec.name
            records = to_records(spec, pages, IV, run_id="r1")
            assert len(records) == expected[spec.name] > 0, spec.name
            assert all(r["source"] == spec.name and r["attributes"]["kind"] == spec.kind for r in records)
            assert all(IV.start.timestamp() * 1000 <= r["observed_ts"] < IV.end.timestamp() * 1000 + 1
                       for r in records if spec.name != "market_fx")
    assert expected["news_hackernews"] > 8 and expected["social_bluesky"] > 10  # both paginators exercised


def test_replay_is_deterministic_and_varies_by_date() -> None:
    def day(d: str) -> list[float]:
        q = {"latitude": "16.0544", "longitude": "108.2022", "hourly": "temperature_2m", "start_date": d,
             "end_date": d}
        answer = apis.call("archive-api.open-meteo.com", "/v1/archive", q, today=date(2026, 12, 1))
        return answer.body["hourly"]["temperature_2m"]

    assert day("2026-01-15") == day("2026-01-15")
    assert day("2026-01-15") != day("2026-01-16")
    assert sum(day("2026-07-15")) / 24 > sum(day("2026-01-15")) / 24 - 3  # summer is not colder than winter


@pytest.mark.parametrize("mode", ["500", "timeout"])
def test_failing_source_is_retried_then_named(replay: ReplayServer, mode: str) -> None:
    s = fast(replay)
    spec = next(x for x in load_sources(SOURCES).sources if x.name == "news_hackernews")
    replay.inject("hn.algolia.com", mode)
    try:
        with Fetcher(s) as f, pytest.raises(SourceError) as err:
            fetch_pages(spec, IV, f, s)
        assert f.calls == 2
    finally:
        replay.clear()
    assert "source 'news_hackernews'" in str(err.value)
    assert ("HTTP 500" if mode == "500" else "timed out") in str(err.value)


def test_client_error_is_not_retried(replay: ReplayServer) -> None:
    s = fast(replay)
    with Fetcher(s) as f, pytest.raises(SourceError, match="HTTP 404"):
        f.get_json("market_fx", s.url("https://api.frankfurter.dev", "/v1/not-a-date"))
    assert f.calls == 1


def test_replay_server_names_what_it_has(replay: ReplayServer) -> None:
    resp = httpx.get(f"{replay.url}/example.org/v1/nothing")
    assert resp.status_code == 404 and "api.open-meteo.com" in resp.json()["error"]


# Spacing against a host that enforces its rate limit (Nominatim's 1/s): tests/unit/test_dags_failures.py.
