"""Each way the real external APIs fail, reproduced by the replay server over HTTP, and how the DAGs' code
handles it (mwaa_dags/extdata against local/replay; sources in local/replay/README.md).

Bluesky: 403 on an unauthenticated cursor page, 401 on a bad app password. Frankfurter /v1: 404 for a
currency the ECB lacks (and silent omission beside others), the business day's date. Open-Meteo: 400 past
the forecast's 93 days, the archive instead, 400 for an unknown variable. Overpass: nwr vs node, a query
past its own timeout. Nominatim: blocked stock User-Agent, 1 request/s, the cache. 429 with Retry-After.
A page limit publishes what was fetched, then fails the task by name.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "mwaa_dags"))  # as Airflow and MWAA put the DAGs folder on sys.path

from extdata.destinations import load_destinations  # noqa: E402
from extdata.exceptions import ConfigError, HTTPStatusError, SourceError  # noqa: E402
from extdata.http import Fetcher, parse_retry_after  # noqa: E402
from extdata.maps import geocode, poi_counts, poi_query  # noqa: E402
from extdata.records import Interval, latest, make_record  # noqa: E402
from extdata.settings import DagSettings  # noqa: E402
from extdata.sources import Source, fetch_pages, load_sources, to_records  # noqa: E402
from extdata.weather import fetch as fetch_weather  # noqa: E402
from extdata.weather import to_record as weather_record  # noqa: E402

from local.replay import apis  # noqa: E402
from local.replay.server import ReplayServer  # noqa: E402

SOURCES = load_sources(REPO / "mwaa_dags" / "config" / "sources.yaml").sources
DESTS = {d.code: d for d in load_destinations(REPO / "mwaa_dags" / "config" / "destinations.yaml")}
IV = Interval.parse("2026-01-15T05:00:00+00:00", "2026-01-15T06:00:00+00:00")


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer(port=0, timeout_s=2, rate_limits={"nominatim.openstreetmap.org": 0.2},
                          today=date(2026, 2, 1)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean(replay: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    replay.reset_all()  # faults, counters and rate-limit clocks: nothing of an earlier test on the shared server
    monkeypatch.setenv("EB_DAGS_SECRET_BLUESKY_APP_PASSWORD", "abcd-efgh-ijkl-mnop")


def fast(replay: ReplayServer, **kw: Any) -> DagSettings:
    values = {"replay_url": replay.url, "http_attempts": 2, "http_backoff_s": 0.05, "http_timeout_s": 1.0,
              "geocode_interval_s": 0.35, **kw}
    return DagSettings(**values)


def source(name: str, **changes: Any) -> Source:
    spec = next(s for s in SOURCES if s.name == name)
    return spec.model_copy(update=changes) if changes else spec


# --- Bluesky -----------------------------------------------------------------------------------
def test_bluesky_public_appview_refuses_a_cursor_page(replay: ReplayServer) -> None:
    """The old config (public AppView, no auth): page 1 answers, page 2 (cursor) is a 403 — a named error."""
    old = source("social_bluesky", base_url="https://public.api.bsky.app", auth=None)
    s = fast(replay)
    with Fetcher(s) as f, pytest.raises(HTTPStatusError) as err:
        fetch_pages(old, IV, f, s)
    assert err.value.status == 403 and "forbidden by administrative rules" in err.value.body
    assert "declare `auth`" in str(err.value) and f.calls == 2  # not retried: resending will not help


def test_bluesky_with_an_app_password_pages_through(replay: ReplayServer) -> None:
    s = fast(replay)
    with Fetcher(s) as f:
        fetched = fetch_pages(source("social_bluesky"), IV, f, s)
    q = IV.placeholders()
    total = apis.call("bsky.social", "/xrpc/app.bsky.feed.searchPosts",
                      {"q": "travel vietnam", "since": q["start_iso"], "until": q["end_iso"], "limit": "100"},
                      headers={"authorization": "Bearer " + "replay." + "0" * 32}).body["hits_total"]
    assert len(fetched.pages) == -(-total // 10) > 1 and not fetched.truncated
    assert f.calls == 1 + len(fetched.pages)  # one login, then the pages
    assert len(to_records(source("social_bluesky"), fetched.pages, IV, "r")) == total


def test_bluesky_bad_or_missing_secret_is_named(replay: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    s = fast(replay)
    monkeypatch.setenv("EB_DAGS_SECRET_BLUESKY_APP_PASSWORD", "my-real-account-password")
    with Fetcher(s) as f, pytest.raises(HTTPStatusError, match="HTTP 401.*Invalid identifier or password"):
        fetch_pages(source("social_bluesky"), IV, f, s)
    monkeypatch.delenv("EB_DAGS_SECRET_BLUESKY_APP_PASSWORD")
    monkeypatch.setenv("EB_PROFILE", "local")
    monkeypatch.setenv("EB_AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # no Secrets Manager there
    from eventbus.settings import get_settings

    get_settings.cache_clear()
    try:
        with Fetcher(s) as f, pytest.raises(ConfigError) as err:
            fetch_pages(source("social_bluesky"), IV, f, s)
    finally:
        get_settings.cache_clear()
    assert "EB_DAGS_SECRET_BLUESKY_APP_PASSWORD" in str(err.value) and "Secrets Manager" in str(err.value)


# --- Frankfurter ---------------------------------------------------------------------------------
def test_frankfurter_v1_has_no_vnd(replay: ReplayServer) -> None:
    alone = apis.call("api.frankfurter.dev", "/v1/2026-01-15", {"base": "USD", "symbols": "VND"})
    assert (alone.status, alone.body) == (404, {"message": "not found"})
    s = fast(replay)
    old = source("market_fx")
    old = old.model_copy(update={"endpoint": old.endpoint.model_copy(
        update={"params": {"base": "USD", "symbols": "VND,EUR,JPY"}})})
    with Fetcher(s) as f, pytest.raises(SourceError, match="no VND although symbols= asked for it"):
        fetch_pages(old, IV, f, s)  # the API answered 200 with EUR and JPY only: loud, not a quiet gap
    only_vnd = old.model_copy(update={"endpoint": old.endpoint.model_copy(update={"params": {"symbols": "VND"}})})
    with Fetcher(s) as f, pytest.raises(HTTPStatusError, match="HTTP 404.*currency Frankfurter /v1 lacks"):
        fetch_pages(only_vnd, IV, f, s)


def test_frankfurter_one_record_per_business_day(replay: ReplayServer) -> None:
    """market_fx is due in the run of 00:00-01:00 UTC, which runs at 01:00 — before the ECB publishes that day's
    rates (about 16:00 CET). Friday's run gets Thursday's rates dated Thursday; Saturday's, Sunday's and
    Monday's get Friday's, dated Friday: the same record ids. Each business day once, dated by that day."""
    spec, s = source("market_fx"), fast(replay)

    def run(day: int, at: datetime | None = None) -> tuple[str, set[str]]:
        iv = Interval.parse(f"2026-01-{day}T00:00:00+00:00", f"2026-01-{day}T01:00:00+00:00")
        replay.now = at or iv.end + timedelta(minutes=2)  # when the scheduler runs it
        with Fetcher(s) as f:
            records = to_records(spec, fetch_pages(spec, iv, f, s).pages, iv, "r")
        assert len(records) == 12 and all(r["metrics"]["usd_rate"] > 0 for r in records)
        (start,) = {r["data_interval_start"] for r in records}
        return datetime.fromtimestamp(start / 1000, UTC).date().isoformat(), {r["record_id"] for r in records}

    try:
        runs = {day: run(day) for day in (15, 16, 17, 18, 19, 20)}  # Thursday .. Tuesday
        # a rerun (or a backfill) of Friday's interval after 16:30 CET, when Friday's rates are out
        late = run(16, at=datetime(2026, 1, 16, 15, 30, tzinfo=UTC))
    finally:
        replay.now = None
    assert {d: day for d, (day, _) in runs.items()} == {
        15: "2026-01-14", 16: "2026-01-15", 17: "2026-01-16", 18: "2026-01-16", 19: "2026-01-16", 20: "2026-01-19"}
    assert runs[17][1] == runs[18][1] == runs[19][1] == late[1] and late[0] == "2026-01-16"
    assert len({frozenset(ids) for _, ids in runs.values()}) == 4  # Wed, Thu, Fri, Mon: each once
    assert spec.due(Interval.parse("2026-01-16T00:00:00+00:00", "2026-01-16T01:00:00+00:00"))
    assert not spec.due(Interval.parse("2026-01-16T05:00:00+00:00", "2026-01-16T06:00:00+00:00"))


def test_frankfurter_target_holidays_answer_the_previous_business_day() -> None:
    """Good Friday and Easter Monday are TARGET closing days (2026: 3 and 6 April), as are 1 May and 25/26 Dec."""
    def answered(day: str) -> str:
        body = apis.call("api.frankfurter.dev", f"/v1/{day}", {"base": "USD", "symbols": "EUR"},
                         today=date(2026, 12, 31)).body
        return str(body["date"])

    assert [answered(d) for d in ("2026-04-02", "2026-04-03", "2026-04-06", "2026-04-07")] == [
        "2026-04-02", "2026-04-02", "2026-04-02", "2026-04-07"]
    assert [answered(d) for d in ("2026-05-01", "2026-12-25", "2026-12-28")] == [
        "2026-04-30", "2026-12-24", "2026-12-28"]
    assert answered("2025-04-21") == "2025-04-17"  # Easter Monday 2025 -> Maundy Thursday


# --- Open-Meteo ----------------------------------------------------------------------------------
def test_open_meteo_forecast_window_and_archive(replay: ReplayServer) -> None:
    dad, s = DESTS["dad"], fast(replay)
    old_iv = Interval.parse("2025-09-01T00:00:00+00:00", "2025-09-01T06:00:00+00:00")  # > 93 days before today
    raw = httpx.get(f"{replay.url}/api.open-meteo.com/v1/forecast", params={
        "latitude": dad.lat, "longitude": dad.lon, "start_date": "2025-09-01", "end_date": "2025-09-01"})
    assert raw.status_code == 400
    assert raw.json() == {"error": True, "reason": "Parameter 'start_date' is out of allowed range from "
                                                   "2025-10-31 to 2026-02-16"}  # today-93 .. today+15
    now = datetime(2026, 2, 1, 12, tzinfo=UTC)
    recent_iv = Interval.parse("2026-01-30T00:00:00+00:00", "2026-01-30T06:00:00+00:00")
    with Fetcher(s) as f:
        recent = fetch_weather(dad, recent_iv, f, s, now=now)
        old = fetch_weather(dad, old_iv, f, s, now=now)
        # a clock that thinks the old interval is recent: the forecast API's 400 sends it to the archive
        skewed = fetch_weather(dad, old_iv, f, s, now=datetime(2025, 9, 2, tzinfo=UTC))
    assert recent["_source"] == {"api": "open-meteo /v1/forecast", "value_type": "forecast"}
    assert old["_source"] == skewed["_source"] == {"api": "open-meteo /v1/archive", "value_type": "reanalysis"}
    assert len(old["hourly"]["time"]) == 24


def test_open_meteo_windows_edges_and_unknown_variable(replay: ReplayServer) -> None:
    """Forecast: today-93 .. today+15 (#1570); archive: up to today-2 ("a delay of 2 days"); a variable the
    API does not have is a 400 naming it (#162), not a 200 with a column of nulls."""
    dad = DESTS["dad"]

    def get(host: str, path: str, day: str, hourly: str = "temperature_2m") -> httpx.Response:
        return httpx.get(f"{replay.url}/{host}{path}", params={
            "latitude": dad.lat, "longitude": dad.lon, "hourly": hourly, "start_date": day, "end_date": day})

    forecast, archive = ("api.open-meteo.com", "/v1/forecast"), ("archive-api.open-meteo.com", "/v1/archive")
    assert get(*forecast, "2025-10-31").status_code == 200  # today (2026-02-01) - 93
    assert get(*forecast, "2025-10-30").status_code == 400
    assert get(*forecast, "2026-02-16").status_code == 200 and get(*forecast, "2026-02-17").status_code == 400
    assert len(get(*archive, "2026-01-30").json()["hourly"]["temperature_2m"]) == 24  # today - 2
    late = get(*archive, "2026-01-31")
    assert (late.status_code, late.json()["reason"]) == (
        400, "Parameter 'start_date' is out of allowed range from 1940-01-01 to 2026-01-30")
    typo = get(*forecast, "2026-01-30", hourly="temperature_2m,temprature_2m")
    assert (typo.status_code, typo.json()) == (400, {"error": True, "reason": (
        "Cannot initialize ForecastSurfaceVariable from invalid String value temprature_2m for key hourly")})
    assert "WeatherVariable from invalid String value cape" in get(*archive, "2026-01-20", "cape").json()["reason"]
    s = fast(replay)
    with Fetcher(s) as f, pytest.raises(HTTPStatusError, match="HTTP 400.*temprature_2m"):
        f.get_json("weather", s.url(s.weather_url, "/v1/forecast"), {
            "latitude": dad.lat, "longitude": dad.lon, "hourly": "temprature_2m",
            "start_date": "2026-01-30", "end_date": "2026-01-30"})
    assert f.calls == 1  # a 4xx: not retried


@pytest.mark.parametrize(("variables", "named"), [("", "temperature_2m"), ("precipitation", "precipitation"),
                                                  ("wind_speed_10m,cloud_cover", "cloud_cover")])
def test_open_meteo_all_null_variable_fails_naming_city_and_variable(replay: ReplayServer, variables: str,
                                                                     named: str) -> None:
    """Open-Meteo answers null for hours its model does not hold (#972, #1806). A variable with no value in the
    interval is an error naming the city and the variable — not a TypeError, and no rain read as 0 mm."""
    dad, s, iv = DESTS["dad"], fast(replay), Interval.parse("2026-01-30T00:00:00+00:00", "2026-01-30T06:00:00+00:00")
    replay.inject("api.open-meteo.com", "nulls", match="start_date=2026-01-30", variables=variables)
    with Fetcher(s) as f:
        body = fetch_weather(dad, iv, f, s, now=datetime(2026, 2, 1, 12, tzinfo=UTC))
    assert all(v is None for v in body["hourly"][named])
    with pytest.raises(SourceError, match=f"source 'weather': Da Nang: Open-Meteo answered null for {named} in "
                                          "every hour of 20260130T0000Z_20260130T0600Z"):
        weather_record(dad, body, iv, "r")


def test_open_meteo_some_null_hours_are_left_out_and_named(replay: ReplayServer) -> None:
    dad, s, iv = DESTS["dad"], fast(replay), Interval.parse("2026-01-30T00:00:00+00:00", "2026-01-30T06:00:00+00:00")
    with Fetcher(s) as f:
        body = fetch_weather(dad, iv, f, s, now=datetime(2026, 2, 1, 12, tzinfo=UTC))
    hourly = body["hourly"]
    temps = hourly["temperature_2m"][:6]
    hourly["temperature_2m"][1] = hourly["temperature_2m"][4] = None
    hourly["precipitation"][:6] = [None, 1.5, None, 0.5, None, None]
    record = weather_record(dad, body, iv, "r")
    kept = [t for i, t in enumerate(temps) if i not in (1, 4)]
    assert record["metrics"]["temp_c_mean"] == round(sum(kept) / 4, 2)
    assert record["metrics"]["temp_c_min"] == min(kept) and record["metrics"]["hours"] == 6
    assert record["metrics"]["rain_mm"] == 2.0
    assert record["attributes"]["null_hours"] == "precipitation=4,temperature_2m=2"


# --- Overpass -----------------------------------------------------------------------------------
def test_overpass_nwr_counts_ways_node_does_not(replay: ReplayServer) -> None:
    s = fast(replay)
    query = poi_query(DESTS["sgn"], IV, s)
    assert query.startswith(f"[out:json][timeout:{s.poi_query_timeout_s}]") and query.count("nwr[") == 5
    with Fetcher(s) as f:
        nwr = poi_counts(DESTS["sgn"], IV, f, s)
        node = f.get_json("maps", s.url(s.poi_url, "/api/interpreter"), {"data": query.replace("nwr[", "node[")})
    hotels_nwr, hotels_node = (int(b["elements"][2]["tags"]["total"]) for b in (nwr, node))
    assert hotels_nwr > hotels_node and int(nwr["elements"][2]["tags"]["ways"]) > 0
    assert node["elements"][2]["tags"]["ways"] == "0"


def test_overpass_query_timeout_is_inside_the_client_wait(replay: ReplayServer) -> None:
    """The server may run a query for [timeout:N]; the client waits N + http_timeout_s, so a slow answer is
    received once (no re-send); past N Overpass answers 200 with a runtime-error remark — an error here."""
    s = fast(replay, poi_query_timeout_s=1, http_timeout_s=0.5)
    replay.inject("overpass-api.de", "slow", times=1, delay_s=0.8)  # slower than http_timeout_s, within N
    with Fetcher(s) as f:
        body = poi_counts(DESTS["hui"], IV, f, s)
        assert f.calls == 1 and len(body["elements"]) == 5
    replay.inject("overpass-api.de", "slow", times=1, delay_s=1.2)  # past the query's own timeout
    with Fetcher(s) as f, pytest.raises(SourceError, match="Query timed out"):
        poi_counts(DESTS["hui"], IV, f, s)


# --- Nominatim ------------------------------------------------------------------------------------
def test_nominatim_blocks_stock_agents_and_enforces_one_per_interval(replay: ReplayServer) -> None:
    host, url = "nominatim.openstreetmap.org", f"{replay.url}/nominatim.openstreetmap.org/search"
    assert httpx.get(url, params={"q": "Hue, Vietnam"}).status_code == 403  # python-httpx/x.y
    replay.reset_all()  # the blocked request took the interval's one slot: forget it rather than wait it out
    s = fast(replay, http_attempts=1)
    with Fetcher(s) as f:
        assert f.get_json("maps", url, {"q": "Hue, Vietnam"})[0]["name"] == "Hue"
        with pytest.raises(SourceError, match="HTTP 429"):
            f.get_json("maps", url, {"q": "Hue, Vietnam"})  # unspaced: too soon
        assert replay.stats[f"{host} 429"] == 1
    replay.reset_all()  # the client's spacing starts at its own first spaced call, not at the server's last one
    with Fetcher(s) as f:
        for _ in range(2):  # spaced by the client: both pass
            assert f.get_json("maps", url, {"q": "Hue, Vietnam"}, min_interval_s=0.35)[0]["name"] == "Hue"
    first, second = replay.log
    assert replay.stats[f"{host} 429"] == 0 and second["start"] - first["start"] >= 0.2  # the server's window


def test_geocodes_are_cached(replay: ReplayServer, aws_mock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventbus.aws import client
    from eventbus.settings import get_settings

    monkeypatch.setenv("EB_PROFILE", "local")
    monkeypatch.setenv("EB_AWS_ENDPOINT_URL", "")
    get_settings.cache_clear()
    try:
        client("s3", get_settings()).create_bucket(Bucket=get_settings().lake_bucket)
        s, now = fast(replay), datetime(2026, 2, 1, tzinfo=UTC)
        with Fetcher(s) as f:
            first = geocode(DESTS["hoi"], f, s, now=now)
            again = geocode(DESTS["hoi"], f, s, now=now + timedelta(days=29))
            assert f.calls == 1 and again == first
            geocode(DESTS["hoi"], f, s, now=now + timedelta(days=31))  # stale: asked again
            assert f.calls == 2
    finally:
        get_settings.cache_clear()


# --- 429 + Retry-After, backoff -------------------------------------------------------------------
def test_429_waits_for_retry_after_then_succeeds(replay: ReplayServer) -> None:
    s = fast(replay, http_attempts=3, http_backoff_s=0.01)
    replay.inject("hn.algolia.com", "429", times=1, retry_after=1)
    t0 = time.monotonic()
    with Fetcher(s) as f:
        fetched = fetch_pages(source("news_hackernews"), IV, f, s)
    assert time.monotonic() - t0 >= 1.0  # the server's wait, not the 0.01 s backoff
    assert replay.fault_hits["hn.algolia.com"] == 1 and replay.stats["hn.algolia.com 429"] == 1
    assert f.calls == len(fetched.pages) + 1 >= 2  # the 429, then each page once


def test_retry_after_longer_than_allowed_fails_at_once(replay: ReplayServer) -> None:
    s = fast(replay, http_attempts=5, http_retry_after_max_s=30)
    replay.inject("hn.algolia.com", "429", retry_after=3600)
    with Fetcher(s) as f, pytest.raises(SourceError, match="asking to wait 3600s"):
        fetch_pages(source("news_hackernews"), IV, f, s)
    assert f.calls == 1


def test_backoff_is_exponential_capped_and_reads_http_dates() -> None:
    f = Fetcher(DagSettings(replay_url="", http_backoff_s=1, http_backoff_max_s=5))
    delays = [f.delay(n, None) for n in (1, 2, 3, 4, 5)]
    assert 0.75 <= delays[0] <= 1.25 and 1.5 <= delays[1] <= 2.5 and all(d <= 6.25 for d in delays[3:])
    assert f.delay(1, 7.0) == 7.0
    assert parse_retry_after("120") == 120 and parse_retry_after("soon") is None
    assert 55 < (parse_retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60)))
                 or 0) <= 60


# --- page limit, de-dup rule ---------------------------------------------------------------------------
def test_page_limit_publishes_what_it_fetched_then_fails_by_name(replay: ReplayServer,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Past max_pages the pages beyond are never fetched: the task publishes the pages it has, then fails with
    this error (config_driven_pipeline raises it as AirflowFailException: no retry, the alert fires)."""
    from extdata.exceptions import PageLimitError
    from extdata.sources import page_limit_error

    spec = source("news_hackernews")
    spec = spec.model_copy(update={"endpoint": spec.endpoint.model_copy(update={"max_pages": 1})})
    s = fast(replay)
    with Fetcher(s) as f, caplog.at_level(logging.WARNING, "extdata.sources"):
        fetched = fetch_pages(spec, IV, f, s)
        whole = fetch_pages(source("news_hackernews"), IV, f, s)
    assert fetched.truncated and len(fetched.pages) == 1 < len(whole.pages)
    assert "stopped at max_pages=1" in caplog.text
    records = to_records(spec, fetched.pages, IV, "r")
    error = page_limit_error(spec, fetched, IV, len(records))
    assert isinstance(error, PageLimitError) and isinstance(error, SourceError)
    assert str(error).startswith(f"source 'news_hackernews': stopped at max_pages=1 for {IV.tag} with more pages "
                                 f"on offer — the 1 pages fetched ({len(records)} records) were landed and published")
    assert "raise endpoint.max_pages of 'news_hackernews' in config/sources.yaml" in str(error)
    assert page_limit_error(source("news_hackernews"), whole, IV, 99) is None  # all pages read: no error


def test_config_driven_task_fails_after_publishing_past_the_page_limit() -> None:
    """The DAG task: land, publish, *then* raise the page-limit error as AirflowFailException (checked in its
    source, since Airflow is not in this venv; tests/integration/test_dags.py runs it)."""
    import ast

    tree = ast.parse((REPO / "mwaa_dags" / "config_driven_pipeline.py").read_text())
    ingest = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "ingest")
    line = {c.func.id: c.lineno for c in ast.walk(ingest) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    assert line["land"] < line["publish"] < line["page_limit_error"] < line["AirflowFailException"]


def test_consumer_rule_keeps_each_source_entity_interval_once() -> None:
    other = Interval.parse("2026-01-15T06:00:00+00:00", "2026-01-15T07:00:00+00:00")
    runs = [[make_record("news", e, iv, metrics={"points": n}, run_id=f"run{n}")
             for e in ("1", "2") for iv in (IV, other)] for n in range(3)]  # three runs of the same two intervals
    for n, run in enumerate(runs):
        for r in run:
            r["fetched_ts"] += n  # later runs fetched later
    kept = latest([r for run in runs for r in run])
    assert len(kept) == 4 and {r["run_id"] for r in kept} == {"run2"}


# --- failure alert ------------------------------------------------------------------------------------
def test_failure_callback_puts_the_metric_the_console_shows(aws_mock: None, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from extdata.alerts import task_failed

    from eventbus.settings import Settings, get_settings
    from local.console.sources import dag_failures

    monkeypatch.setenv("EB_PROFILE", "local")
    monkeypatch.setenv("EB_AWS_ENDPOINT_URL", "")
    get_settings.cache_clear()
    try:
        ti = SimpleNamespace(dag_id="weather_data_ingestion", task_id="extract")
        with caplog.at_level(logging.ERROR, "extdata.alerts"):
            task_failed({"task_instance": ti, "exception": SourceError("weather", "boom")})
            task_failed({"task_instance": ti, "exception": SourceError("weather", "boom")})
        assert "ALERT dag weather_data_ingestion task extract failed for good: source 'weather': boom" in caplog.text
        shown = dag_failures(SimpleNamespace(settings=Settings(profile="local", aws_endpoint_url="")))  # type: ignore[arg-type]
        assert shown == [{"dag_id": "weather_data_ingestion", "task_id": "extract", "failures": 2.0}]
    finally:
        get_settings.cache_clear()


# --- a rerun replaces the interval's raw objects ---------------------------------------------------------
def test_a_rerun_with_fewer_pages_leaves_nothing_of_the_earlier_attempt(
        aws_mock: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from extdata.records import interval_prefix, land, raw_key, read_landed

    from eventbus.aws import client
    from eventbus.settings import get_settings

    monkeypatch.setenv("EB_PROFILE", "local")
    monkeypatch.setenv("EB_AWS_ENDPOINT_URL", "")
    get_settings.cache_clear()
    try:
        s3, bucket = client("s3", get_settings()), get_settings().lake_bucket
        s3.create_bucket(Bucket=bucket)
        other = Interval.parse("2026-01-15T06:00:00+00:00", "2026-01-15T07:00:00+00:00")
        neighbour = land({raw_key("raw/external", "news", other, "page-0001"): {"n": 0}})
        prefix = interval_prefix("raw/external", "news", IV)
        land({raw_key("raw/external", "news", IV, f"page-{i:04d}"): {"n": i} for i in (1, 2, 3)}, replace=[prefix])
        again = land({raw_key("raw/external", "news", IV, "page-0001"): {"n": 1}}, replace=[prefix])
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="raw/external/news/")["Contents"]}
        assert keys == {*again, *neighbour}  # pages 2 and 3 gone; the next interval untouched
        gone = raw_key("raw/external", "news", IV, "page-0002")
        assert read_landed([*again, gone], missing_ok=True) == {again[0]: {"n": 1}}  # publish re-fetches the rest
    finally:
        get_settings.cache_clear()


def test_local_pins_are_mwaa_pins_with_the_listed_overrides(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "mwaa_dags" / "requirements"))
    import local_env

    local_env.main([str(tmp_path)])
    merged = local_env.pins(tmp_path / "constraints.txt")
    mwaa = local_env.pins(local_env.MWAA_CONSTRAINTS)
    overrides = local_env.pins(REPO / "mwaa_dags" / "requirements" / "py311.txt")
    assert {n for n in merged if merged[n] != mwaa[n]} == set(overrides)
    reqs = (tmp_path / "requirements.txt").read_text()
    assert "--constraint" not in reqs and "apache-airflow[postgres]==3.2.1" in reqs and "fastavro==1.12.1" in reqs
