"""Every generated record validates against its Avro schema, encodes to the same bytes through the
compiled encoder as through fastavro/AvroSerde, and (app events) is accepted by the gateway's models."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate

from eventbus.avro_compiler import compile_encoder
from eventbus.catalog import load_catalog
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.gateway.models import BOOKING_EVENT_TYPES, AppEventIn, BookingEventIn
from lambdas.simulators.sinks import BOOKING_ROUTE_TYPES, SERVER_FIELDS
from lambdas.simulators.sources import REGISTRY, SourceContext
from lambdas.simulators.world import World

START = 1_748_764_800_000
KAFKA_SOURCES = [n for n, cls in sorted(REGISTRY.items()) if cls.topic]


def _records(name: str, n: int = 3000) -> list[dict]:
    src = REGISTRY[name](SourceContext(world=World(seed=17, users=500), extras={"start_ms": START}))
    return [rec for _, rec in src.generate(list(range(START, START + n * 37, 37)))]


@pytest.mark.parametrize("name", KAFKA_SOURCES)
def test_every_record_validates_and_compiled_bytes_equal_fastavro(name: str) -> None:
    spec = load_catalog().get(REGISTRY[name].topic)  # type: ignore[arg-type]
    encode = compile_encoder(json.loads(spec.schema_text))
    records = _records(name)
    for rec in records:
        assert validate(rec, spec.schema, raise_errors=True, strict=True)
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, spec.schema, rec)
        assert encode(rec) == buf.getvalue()
    decoded = fastavro.schemaless_reader(io.BytesIO(encode(records[-1])), spec.schema, spec.schema)
    assert isinstance(decoded, dict)
    assert set(decoded) == {f["name"] for f in spec.schema["fields"]}


def test_compiled_encoder_handles_every_catalog_schema_and_unions() -> None:
    cdc = {"before": None, "after": {"id": "b-1", "guests": 2, "amount": "12.50", "ok": True, "gone": None,
                                     "ratio": 0.5},
           "source": {"version": "1", "connector": "postgresql", "name": "travel", "ts_ms": 1, "snapshot": "false",
                      "db": "travel", "schema": "public", "table": "bookings", "txId": 7, "lsn": None, "xmin": None},
           "op": "c", "ts_ms": 2, "transaction": {"id": "7", "total_order": 1, "data_collection_order": 1}}
    spec = load_catalog().get("topic_cdc_changes")
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, spec.schema, cdc)
    assert compile_encoder(json.loads(spec.schema_text), b"HDR")(cdc) == b"HDR" + buf.getvalue()
    for topic in load_catalog().names():
        compile_encoder(json.loads(load_catalog().get(topic).schema_text))  # compiles
    with pytest.raises((KeyError, TypeError, AttributeError)):  # the caller falls back to AvroSerde
        compile_encoder(json.loads(load_catalog().get("topic_app_logs").schema_text))({"log_id": 1})


def test_kafka_sink_bytes_equal_the_shared_serde(settings: Settings) -> None:
    from lambdas.simulators.sinks import KafkaSink

    class _NoProducer:  # encoding only: the broker is not needed here
        raw = None

    serde = AvroSerde(settings)
    sink = KafkaSink(settings, serde=serde, producer=_NoProducer())
    for name in KAFKA_SOURCES:
        topic = REGISTRY[name].topic
        assert topic
        enc = sink.encoder_for(topic)
        for rec in _records(name, 200):
            assert enc(rec) == serde.encode(topic, rec)
    bad = dict(_records("app_logs", 1)[0], level="LOUD")
    with pytest.raises(ValueError, match="level"):
        sink.encoder_for("topic_app_logs")(bad)  # falls back to AvroSerde: the error names the field


@pytest.mark.parametrize("name", ["mobile", "web"])
def test_app_events_are_accepted_by_the_gateway_models(name: str) -> None:
    routes = {"booking": 0, "user": 0}
    for rec in _records(name, 2000):
        body = {k: v for k, v in rec.items() if k not in SERVER_FIELDS}
        booking = rec["event_type"] in BOOKING_ROUTE_TYPES and rec["booking_id"] is not None
        model = BookingEventIn if booking else AppEventIn
        model.model_validate_json(json.dumps(body))
        routes["booking" if booking else "user"] += 1
        if rec["event_type"] in BOOKING_EVENT_TYPES and not booking:
            assert rec["event_type"] == "booking_view"
    assert routes["booking"] and routes["user"]


@pytest.mark.parametrize("name", [n for n in KAFKA_SOURCES if REGISTRY[n].replay])  # replay=None: live only
def test_replay_pool_emits_valid_records_with_fresh_ids_and_scheduled_times(name: str) -> None:
    from lambdas.simulators.replay import ReplayPool

    cls = REGISTRY[name]
    spec = load_catalog().get(cls.topic)  # type: ignore[arg-type]
    src = cls(SourceContext(world=World(seed=3, users=300), extras={"start_ms": START}))
    pool = ReplayPool(src, spec.schema_text, b"H" * 18, 300, START)
    ts = list(range(START + 10**9, START + 10**9 + 700))  # more than two passes over the pool
    out = pool.take(ts)
    records: list[dict[str, Any]] = [fastavro.schemaless_reader(io.BytesIO(v[18:]), spec.schema, spec.schema)  # type: ignore[misc]
                                     for _, v in out]
    id_field = cls.replay.fresh[0]  # type: ignore[union-attr]  # the record's id: new on every emission
    assert len({r[id_field] for r in records}) == len(records)  # never a repeated id
    time_field = cls.replay.time  # type: ignore[union-attr]
    assert [int(r[time_field].timestamp() * 1000) for r in records] == ts
    if "session_id" in cls.replay.per_pass and records[5]["session_id"] is not None:  # type: ignore[union-attr]
        first, third = records[5]["session_id"], records[605]["session_id"]
        assert third == first + "-2"  # the same session replayed on pass 2 is a new session
    if cls.replay.key == "session_id":  # type: ignore[union-attr]  # keyed by the replayed session
        assert all(key == rec["session_id"] for (key, _), rec in zip(out, records, strict=True))
    for rec in records[:50]:  # everything else is the live generator's content
        assert validate({k: (int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v) for k, v in rec.items()},
                        spec.schema, raise_errors=True)
