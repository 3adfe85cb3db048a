"""The HTTP contract, with a real librdkafka producer acknowledged by librdkafka's in-process mock
cluster (no services). The same paths against the real broker: tests/integration/test_gateway_*.py."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import confluent_kafka
import orjson
import pytest
from fastapi.testclient import TestClient

from eventbus.serde import AvroSerde
from lambdas.gateway.app import create_app
from lambdas.gateway.ingest import Gateway
from tests.support.gateway import sample_booking, sample_event, unreachable_gateway

KEY = {"x-api-key": "local-dev-key"}


def _consume(gateway: Gateway, partition: int, offset: int) -> confluent_kafka.Message:
    """Read one message back from the mock cluster the producer wrote to."""
    brokers = gateway.producer.raw.list_topics(timeout=5).brokers.values()
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex})
    try:
        consumer.assign([confluent_kafka.TopicPartition(gateway.topic, partition, offset)])
        msg = consumer.poll(10)
        assert msg is not None and msg.error() is None
        return msg
    finally:
        consumer.close()


def test_accepted_event_is_acknowledged_encoded_and_keyed_by_user(
    client: TestClient, gateway: Gateway, settings
) -> None:
    event = sample_event(user_id="user-42")
    r = client.post("/events/user", json=event, headers={**KEY, "user-agent": "TravelApp/5.2", "x-request-id": "req-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert uuid.UUID(body["event_id"]).version == 4
    assert body["topic"] == "topic_app_events" and body["request_id"] == "req-1"
    assert r.headers["x-request-id"] == "req-1"
    msg = _consume(gateway, body["partition"], body["offset"])
    assert msg.key() == b"user-42"
    value = msg.value()
    assert value is not None
    record = AvroSerde(settings).decode(value)
    assert record["event_id"] == body["event_id"]
    assert record["user_agent"] == "TravelApp/5.2" and record["client_ip"] == "testclient"
    assert record["received_ts"].timestamp() * 1000 >= event["event_ts"]
    assert gateway.metrics.events_accepted == 1


def test_client_event_id_is_kept(client: TestClient) -> None:
    r = client.post("/events/user", json=sample_event(event_id="client-id-1"), headers=KEY)
    assert r.status_code == 200 and r.json()["event_id"] == "client-id-1"


def test_booking_route(client: TestClient) -> None:
    assert client.post("/events/booking", json=sample_booking(), headers=KEY).status_code == 200
    r = client.post("/events/booking", json=sample_event(), headers=KEY)
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["problems"]} == {"event_type", "booking_id"}


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": ""}])
def test_without_a_valid_key_401_and_the_key_is_never_logged(
    client: TestClient, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for path in ("/events/user", "/events/booking", "/events/batch"):
        r = client.post(path, json=sample_event(), headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert client.get("/metrics", headers=headers).status_code == 401
    client.post("/events/user", json=sample_event(user_id=3), headers=KEY)  # a logged rejection
    assert caplog.records and not any("local-dev-key" in r.getMessage() + str(vars(r)) for r in caplog.records)


@pytest.mark.parametrize(
    ("path", "content", "ctype", "status", "error"),
    [
        ("/events/user", b'{"event_type": ', "application/json", 400, "malformed_json"),
        ("/events/batch", b'{"events": [', "application/json", 400, "malformed_json"),
        ("/events/user", b"event_type=search", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("/events/user", b"[]", "application/json", 422, "invalid_event"),
        ("/events/user", b'{"a": "' + b"x" * 5000 + b'"}', "application/json", 413, "body_too_large"),
        ("/events/batch", b'{"events": []}', "application/json", 422, "invalid_batch"),
        ("/events/batch", b'[{"event_type": "search"}]', "application/json", 422, "invalid_batch"),
        ("/events/batch", b'{"events": [], "more": 1}', "application/json", 422, "invalid_batch"),
    ],
)
def test_bad_bodies_get_4xx_naming_the_problem(
    client: TestClient, gateway: Gateway, path: str, content: bytes, ctype: str, status: int, error: str
) -> None:
    r = client.post(path, content=content, headers={**KEY, "content-type": ctype})
    assert r.status_code == status, r.text
    assert r.json()["error"] == error and r.json()["message"]
    assert gateway.producer.delivered == 0


def test_wrong_types_are_422_with_every_field_named(client: TestClient, gateway: Gateway) -> None:
    bad = sample_event(event_ts=1.5, user_id=7, received_ts=1, platform="symbian")
    r = client.post("/events/user", json=bad, headers=KEY)
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["problems"]}
    assert fields == {"event_ts", "user_id", "received_ts", "platform"}
    assert "received_ts" in r.json()["message"]
    assert gateway.producer.delivered == 0 and gateway.metrics.events_rejected == 1


def test_oversized_batch_is_413(client: TestClient) -> None:
    r = client.post("/events/batch", json={"events": [sample_event() for _ in range(51)]}, headers=KEY)
    assert r.status_code == 413 and "limit is 50" in r.json()["message"]


def test_batch_answers_per_event(client: TestClient, gateway: Gateway) -> None:
    events: list[Any] = [sample_event(), sample_event(event_ts="noon"), 7, sample_booking(), sample_event(user_id="")]
    r = client.post("/events/batch", json={"events": events}, headers=KEY)
    assert r.status_code == 207, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"], body["failed"]) == (2, 3, 0)
    statuses = [(x["index"], x["status"]) for x in body["results"]]
    assert statuses == [(0, "accepted"), (1, "rejected"), (2, "rejected"), (3, "accepted"), (4, "rejected")]
    assert "event_ts" in body["results"][1]["reason"] and "JSON object" in body["results"][2]["reason"]
    assert all(isinstance(body["results"][i]["offset"], int) for i in (0, 3))
    assert gateway.producer.delivered == 2  # nothing invalid reached Kafka

    r = client.post("/events/batch", json={"events": [sample_event() for _ in range(20)]}, headers=KEY)
    assert r.status_code == 200 and r.json()["accepted"] == 20

    r = client.post("/events/batch", json={"events": [{"event_type": "search"}, {}]}, headers=KEY)
    assert r.status_code == 422 and r.json()["rejected"] == 2


def test_a_number_beyond_a_double_is_one_events_422_in_a_batch_as_on_the_single_route(
    client: TestClient, gateway: Gateway
) -> None:
    """``1e400`` and a 20-digit integer are valid JSON that no double or long holds: the single route names the
    field (422); a batch answers that event alone, not the whole body with 400 "not valid JSON"."""
    good = orjson.dumps(sample_event()).decode()
    for field, literal, problem in (("amount", "1e400", "finite"), ("event_ts", "123456789012345678901", "")):
        marker = 987654.25
        body = orjson.dumps({**sample_booking(), field: marker}).decode().replace(str(marker), literal, 1)
        single = client.post("/events/booking", content=body, headers={**KEY, "content-type": "application/json"})
        assert single.status_code == 422 and field in single.json()["message"], single.text
        r = client.post("/events/batch", content=f'{{"events": [{good}, {body}]}}',
                        headers={**KEY, "content-type": "application/json"})
        assert r.status_code == 207, r.text
        results = r.json()["results"]
        assert [x["status"] for x in results] == ["accepted", "rejected"]
        assert results[1]["reason"].startswith(field) and problem in results[1]["reason"]


def test_health_ready_metrics_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    client.post("/events/user", json=sample_event(), headers=KEY)
    m = client.get("/metrics", params={"format": "json"}, headers=KEY).json()
    assert m["events_accepted"] == 1
    assert {"route": "/events/user", "status": 200, "count": 1} in m["responses"]
    text = client.get("/metrics", headers=KEY).text
    assert "gateway_events_accepted_total" in text and 'route="/events/user",status="200"' in text
    assert client.get("/docs").status_code == 200
    assert client.get("/nowhere").json()["error"] == "not_found"


def test_openapi_documents_bodies_and_auth(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    routes = {"/events/user": "AppEventIn", "/events/booking": "BookingEventIn", "/events/batch": "BatchIn"}
    for path, model in routes.items():
        op = spec["paths"][path]["post"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{model}" and model in schemas
        assert op["security"] == [{"ApiKey": []}]
        assert {"401", "413", "422", "503"} <= set(op["responses"])
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "x-api-key"
    assert orjson.dumps(spec).count(b"#/components/schemas/AppEventIn") >= 2  # BatchIn refers to it too


def test_unacknowledged_events_get_503_retry_after_and_their_event_id(settings) -> None:
    gw = unreachable_gateway(settings)
    try:
        with TestClient(create_app(gateway=gw)) as client:
            r = client.post("/events/user", json=sample_event(event_id="e-503"), headers=KEY)
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert r.json()["event_id"] == "e-503" and r.json()["possibly_persisted"] is True
            r = client.post("/events/batch", json={"events": [sample_event(), sample_event(user_id="")]}, headers=KEY)
            assert r.status_code == 503
            assert [x["status"] for x in r.json()["results"]] == ["failed", "rejected"]
            ready = client.get("/ready")
            assert ready.status_code == 503 and "127.0.0.1:1 unreachable" in ready.json()["message"]
            assert gw.metrics.events_failed == 2 and gw.metrics.events_accepted == 0
    finally:
        gw.close(timeout=1)


def test_fast_path_and_fastapi_routing_answer_alike(gateway: Gateway) -> None:
    """The event routes are served from the ASGI edge; through FastAPI's router they answer the same."""
    requests: list[tuple[str, Any, dict[str, str]]] = [
        ("/events/user", sample_event(event_id="same-1"), KEY),
        ("/events/user", sample_event(user_id=5), KEY),
        ("/events/booking", sample_event(), KEY),
        ("/events/batch", {"events": [sample_event(event_id="same-2"), {}]}, KEY),
        ("/events/user", sample_event(), {}),
    ]

    def answers(fast: bool) -> list[tuple[int, Any]]:
        out = []
        with TestClient(create_app(gateway=gateway, fast_path=fast)) as client:
            for path, body, headers in requests:
                r = client.post(path, json=body, headers={**headers, "x-request-id": "r"})
                doc = r.json()
                for res in [doc, *doc.get("results", [])]:
                    res.pop("offset", None), res.pop("partition", None)
                out.append((r.status_code, doc))
        return out

    assert answers(True) == answers(False)
