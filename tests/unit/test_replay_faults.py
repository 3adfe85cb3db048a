"""The replay server's fault endpoint refuses a spec it could not serve, instead of accepting it and then
dropping every connection to that host (local/replay/server.py, ``POST /_replay/faults``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from local.replay.server import ReplayServer


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    server = ReplayServer(port=0, timeout_s=1, today=date(2026, 2, 1)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean(replay: ReplayServer) -> None:
    replay.clear()


HN = "/hn.algolia.com/api/v1/search_by_date"
Q = {"query": "travel", "numericFilters": "created_at_i>=1768435200,created_at_i<1768438800"}


@pytest.mark.parametrize(("spec", "reason"), [
    ({"hn.algolia.com": {"mode": "429", "retry_after": "2"}}, "retry_after must be a number"),
    ({"hn.algolia.con": {"mode": "500"}}, "unknown host 'hn.algolia.con' — the replayed hosts are "),
    ({"hn.algolia.com": {"mode": "503"}}, "mode '503' — use one of 500, timeout, 429, 403, slow"),
    ({"hn.algolia.com": {"mode": "500", "time": 1}}, "unknown key(s) 'time'"),
    ({"hn.algolia.com": {"mode": "slow", "delay_s": -1}}, "delay_s must be a number >= 0"),
    ({"hn.algolia.com": {"mode": "500", "times": 1.5}}, "times must be a whole number"),
    ({"hn.algolia.com": "500"}, "the spec must be an object"),
    (["hn.algolia.com"], "the body must be a JSON object"),
])
def test_a_bad_fault_spec_is_a_400_and_changes_nothing(replay: ReplayServer, spec: object, reason: str) -> None:
    # a valid spec for another host in the same request must not be applied either
    body = {"overpass-api.de": {"mode": "500"}, **spec} if isinstance(spec, dict) else spec
    answer = httpx.post(f"{replay.url}/_replay/faults", json=body)
    assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
    assert replay.faults == {}
    # the host still answers (before the fix: 200 here, then every request to it a dropped connection)
    assert httpx.get(f"{replay.url}{HN}", params=Q).status_code == 200


def test_a_good_fault_spec_is_applied_and_served(replay: ReplayServer) -> None:
    answer = httpx.post(f"{replay.url}/_replay/faults",
                        json={"hn.algolia.com": {"mode": "429", "retry_after": 2, "times": 1}})
    assert answer.status_code == 200, answer.text
    first = httpx.get(f"{replay.url}{HN}", params=Q)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert httpx.get(f"{replay.url}{HN}", params=Q).status_code == 200


def test_inject_checks_the_same_way(replay: ReplayServer) -> None:
    with pytest.raises(ValueError, match="unknown host 'api.open-meteo.co'"):
        replay.inject("api.open-meteo.co", "500")
    with pytest.raises(ValueError, match="retry_after must be a number"):
        replay.inject("hn.algolia.com", "429", retry_after="2")  # type: ignore[arg-type]
