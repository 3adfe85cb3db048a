"""The one status HTTP helper (eventbus/status_server.py) and the two servers built on it: the CDC relay's
``/metrics`` + ``/status`` (lambdas/cdc/lag.py) and the simulators' ``/status`` (test_console_simstatus.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from eventbus.status_server import StatusServer, json_route, text_route
from lambdas.cdc.lag import MetricsServer, RelayMetrics


def _get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_routes_answer_per_request_and_unknown_paths_name_the_routes() -> None:
    calls = {"n": 0}

    def snapshot() -> dict[str, int]:
        calls["n"] += 1
        return {"n": calls["n"]}

    server = StatusServer({"/status": json_route(snapshot), "/metrics": text_route(lambda: "up 1\n")}, 0).start()
    try:
        assert server.httpd.server_address[0] == "127.0.0.1"  # local tools only, by default
        assert _get(server.port, "/status") == (200, "application/json", b'{"n": 1}')
        assert _get(server.port, "/status?pretty=1")[2] == b'{"n": 2}'  # a query string does not change the route
        assert _get(server.port, "/metrics") == (200, "text/plain; version=0.0.4", b"up 1\n")
        code, _ctype, body = _get(server.port, "/nope")
        assert code == 404 and b"try /status or /metrics" in body
    finally:
        server.close()


def test_close_without_start_returns() -> None:
    server = StatusServer({"/status": json_route(dict)}, 0)
    server.close()  # shutdown() would wait forever for a serve loop that never ran
    with pytest.raises(OSError):
        _get(server.port, "/status")


def test_cdc_metrics_server_serves_the_relays_prometheus_text_and_status_json() -> None:
    metrics = RelayMetrics("travel_cdc")
    metrics.changes, metrics.acked, metrics.state = 7, 5, "streaming"
    server = MetricsServer(metrics, port=0).start()
    try:
        code, ctype, body = _get(server.port, "/metrics")
        assert (code, ctype) == (200, "text/plain; version=0.0.4")
        assert 'cdc_changes_total{slot="travel_cdc"} 7' in body.decode()
        assert body.decode() == metrics.prometheus()
        code, ctype, body = _get(server.port, "/status")
        status = json.loads(body)
        assert (code, ctype) == (200, "application/json")
        assert [status[k] for k in ("slot", "state", "changes", "acked")] == ["travel_cdc", "streaming", 7, 5]
        assert set(status) == set(metrics.as_dict())
    finally:
        server.close()
