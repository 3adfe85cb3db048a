"""Sinks under failure: a gateway outage is retried with backoff and counted, per-event batch results
are honoured, a broker that never answers leaves every event counted as undelivered — never dropped."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from eventbus.settings import Settings
from lambdas.simulators.exceptions import SinkError
from lambdas.simulators.sinks import GatewaySink, JsonLinesSink, KafkaSink


class ScriptedGateway:
    """A tiny HTTP server answering from a script: [(status, body, headers), …] then 200s."""

    def __init__(self, port: int = 0) -> None:
        self.script: list[tuple[int, Any, dict[str, str]]] = []
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append((self.path, body, dict(self.headers)))
                status, doc, headers = outer.script.pop(0) if outer.script else (200, None, {})
                if doc is None:
                    doc = ({"accepted": len(body["events"]), "rejected": 0, "failed": 0, "results": [
                        {"index": i, "status": "accepted"} for i in range(len(body["events"]))]}
                        if self.path == "/events/batch" else {"status": "accepted"})
                data = json.dumps(doc).encode()
                self.send_response(status)
                for k, v in {"content-type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[ScriptedGateway]:
    gw = ScriptedGateway()
    yield gw
    gw.close()


def _event(i: int, event_type: str = "search", booking_id: str | None = None) -> tuple[str, dict[str, Any]]:
    return ("u-1", {"event_id": f"e-{i}", "event_type": event_type, "event_ts": 1_748_764_800_000 + i,
                    "received_ts": 1, "user_id": "u-1", "session_id": "s-1", "platform": "ios",
                    "booking_id": booking_id, "client_ip": "1.2.3.4", "user_agent": "TravelVN/5.12.0", "page": "x",
                    "properties": {}})


def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.02)


def test_single_event_is_retried_through_503s_and_routed_by_type(gateway: ScriptedGateway) -> None:
    gateway.script = [(503, {"error": "not_acknowledged"}, {"Retry-After": "0"})] * 2
    sink = GatewaySink(gateway.url, "k-1")
    sink.send("topic_app_events", [_event(1)])
    sink.send("topic_app_events", [_event(2, "booking_created", "bk-1")])
    assert sink.counters()["delivered"] == 2 and sink.retries == 2 and sink.failed == 0
    paths = [p for p, _, _ in gateway.requests]
    assert paths == ["/events/user"] * 3 + ["/events/booking"]
    _path, body, headers = gateway.requests[0]
    assert headers["x-api-key"] == "k-1" and headers["user-agent"] == "TravelVN/5.12.0"
    assert not {"received_ts", "client_ip", "user_agent"} & set(body)  # the gateway sets those
    assert [b["event_id"] for _, b, _ in gateway.requests[:3]] == ["e-1"] * 3  # same id: consumers de-duplicate


def test_batch_resends_only_the_events_that_failed(gateway: ScriptedGateway) -> None:
    gateway.script = [(503, {"accepted": 1, "rejected": 1, "failed": 2, "results": [
        {"index": 0, "status": "failed"}, {"index": 1, "status": "accepted"},
        {"index": 2, "status": "failed"}, {"index": 3, "status": "rejected", "reason": "bad"}]},
        {"Retry-After": "0"})]
    sink = GatewaySink(gateway.url, "k")
    sink.send("topic_app_events", [_event(i) for i in range(4)])
    c = sink.counters()
    assert (c["delivered"], c["rejected"], c["failed"], c["retries"]) == (3, 1, 0, 1)
    assert [e["event_id"] for e in gateway.requests[1][1]["events"]] == ["e-0", "e-2"]


def test_connection_refused_is_retried_until_the_gateway_comes_up() -> None:
    with socket.socket() as s:  # a free port with nothing listening yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = GatewaySink(f"http://127.0.0.1:{port}", "k")
    sender = threading.Thread(target=sink.send, args=("topic_app_events", [_event(i) for i in range(3)]))
    sender.start()
    _until(lambda: sink.retries >= 1)  # the outage is seen and backed off
    gw = ScriptedGateway(port)
    try:
        sender.join(timeout=30)
        assert not sender.is_alive()
        assert sink.counters()["delivered"] == 3 and sink.failed == 0
    finally:
        gw.close()


def test_outage_at_shutdown_is_counted_as_failed_not_dropped(gateway: ScriptedGateway) -> None:
    gateway.script = [(503, {"error": "down"}, {"Retry-After": "0"})] * 1000
    sink = GatewaySink(gateway.url, "k")
    sender = threading.Thread(target=sink.send, args=("topic_app_events", [_event(i) for i in range(5)]))
    sender.start()
    _until(lambda: sink.retries >= 2)
    sink.stopping.set()  # the run is stopping: give up and count
    sender.join(timeout=15)
    assert sink.close() == {"delivered": 0, "failed": 5, "rejected": 0, "retries": sink.retries, "pending": 0}


def test_wrong_api_key_stops_with_a_message_naming_the_setting(gateway: ScriptedGateway) -> None:
    gateway.script = [(401, {"error": "unauthorized"}, {})]
    with pytest.raises(SinkError, match="EB_GATEWAY_API_KEYS"):
        GatewaySink(gateway.url, "wrong").send("topic_app_events", [_event(1)])


def test_invalid_event_is_counted_as_rejected(gateway: ScriptedGateway) -> None:
    gateway.script = [(422, {"error": "invalid_event", "message": "event_ts out of range"}, {})]
    sink = GatewaySink(gateway.url, "k")
    sink.send("topic_app_events", [_event(1)])
    assert sink.rejected == 1 and sink.delivered == 0 and sink.retries == 0


def test_unreachable_broker_leaves_every_event_counted_undelivered(settings: Settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{port}"})
    overrides: dict[str, Any] = {"delivery.timeout.ms": 1500, "request.timeout.ms": 1000}
    sink = KafkaSink(dead, **overrides)
    sink.send("topic_clickstream", [("s-1", {
        "click_id": f"c-{i}", "event_ts": 1, "user_id": None, "session_id": "s-1", "page_url": "/", "referrer": None,
        "element_id": "b", "element_type": "button", "x": 1, "y": 2, "viewport_width": 3, "viewport_height": 4,
        "device_type": "mobile", "user_agent": None}) for i in range(10)])
    counters = sink.close(timeout=10)
    assert counters["delivered"] == 0 and counters["failed"] == 10


def test_jsonl_sink_writes_one_object_per_line(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "out.jsonl")
    sink.send("topic_app_events", [_event(1), _event(2)])
    assert sink.close()["delivered"] == 2
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [x["value"]["event_id"] for x in lines] == ["e-1", "e-2"] and lines[0]["topic"] == "topic_app_events"
