"""The deploy's pools request against a real Airflow 3.2.1 (the stack's api-server; MWAA runs the same version):
the body infra/scripts/mwaa_pools.py sends through InvokeRestApi, forwarded here the way MWAA forwards it
(``/api/v2`` + Path), creates the pools, a second run overwrites them (an upsert, not a 409), and the answer
parses as the step expects. Scratch pool names, deleted afterwards: the stack's own pools are not touched."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.stack.airflow_cli import api, api_token
from tests.support.infra import infra_script

BASE = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def mwaa_pools() -> ModuleType:
    return infra_script("mwaa_pools")


class LocalInvokeRestApi:
    """``mwaa.invoke_rest_api`` as MWAA answers it, served by the local api-server (MWAA signs and forwards
    to ``/api/v2<Path>`` on the environment's webserver and returns the status and JSON body)."""

    def __init__(self) -> None:
        self.token = api_token()
        self.calls: list[tuple[str, str]] = []

    def invoke_rest_api(self, *, Name: str, Path: str, Method: str, Body: Any = None) -> dict[str, Any]:
        self.calls.append((Method, Path))
        req = urllib.request.Request(f"{BASE}/api/v2{Path}", method=Method, data=json.dumps(Body).encode(),
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return {"RestApiStatusCode": resp.status, "RestApiResponse": json.load(resp)}
        except urllib.error.HTTPError as exc:  # MWAA: an Airflow 4xx is a RestApiClientException
            raise ClientError({"Error": {"Code": "RestApiClientException", "Message": "Airflow answered 4xx"},  # type: ignore[typeddict-unknown-key]  # MWAA's extra keys
                               "RestApiStatusCode": exc.code, "RestApiResponse": json.load(exc)},
                              "InvokeRestApi") from None


@pytest.fixture
def scratch_pools() -> Iterator[list[dict[str, Any]]]:
    tag = uuid.uuid4().hex[:8]
    pools = [{"name": f"it_pools_{tag}_a", "slots": 1, "description": "scratch", "include_deferred": False},
             {"name": f"it_pools_{tag}_b", "slots": 3, "description": "scratch", "include_deferred": False}]
    yield pools
    token = api_token()
    for p in pools:
        req = urllib.request.Request(f"{BASE}/api/v2/pools/{p['name']}", method="DELETE",
                                     headers={"Authorization": f"Bearer {token}"})
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(req, timeout=30).close()


def test_bulk_upsert_creates_then_overwrites(mwaa_pools: ModuleType, scratch_pools: list[dict[str, Any]]) -> None:
    client = LocalInvokeRestApi()
    names = sorted(p["name"] for p in scratch_pools)
    assert mwaa_pools.ensure_pools(client, "local", scratch_pools) == names
    token = client.token
    assert api("GET", f"/pools/{names[1]}", token)["slots"] == 3
    changed = [{**p, "slots": p["slots"] + 1, "description": "changed"} for p in scratch_pools]
    assert mwaa_pools.ensure_pools(client, "local", changed) == names  # exists: overwritten, no 409
    got = {n: api("GET", f"/pools/{n}", token) for n in names}
    assert {n: (g["slots"], g["description"]) for n, g in got.items()} == {
        names[0]: (2, "changed"), names[1]: (4, "changed")}
    assert client.calls == [("PATCH", "/pools"), ("PATCH", "/pools")]  # one request per deploy


def test_a_refused_pool_fails_the_step(mwaa_pools: ModuleType, scratch_pools: list[dict[str, Any]]) -> None:
    """A pool Airflow refuses (422, as MWAA's RestApiClientException) fails the step with one line."""
    client = LocalInvokeRestApi()
    bad = [scratch_pools[0], {**scratch_pools[1], "slots": -5}]  # slots >= -1 (PoolSlots)
    with pytest.raises(mwaa_pools.PoolsError, match=r"RestApiClientException 422"):
        mwaa_pools.ensure_pools(client, "local", bad)
    present = {p["name"] for p in api("GET", "/pools?limit=1000", client.token)["pools"]}
    assert not present & {p["name"] for p in bad}  # the request was refused whole: nothing half-applied
