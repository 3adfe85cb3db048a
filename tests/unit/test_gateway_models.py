"""The request models provably match schemas/app_event.avsc, and validate the same way whatever parsed
the JSON (pydantic for single events, orjson for batches)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from eventbus.serde import AvroSerde
from lambdas.gateway.models import (
    AVRO_SCHEMA,
    BOOKING_EVENT_TYPES,
    SERVER_FIELDS,
    AppEventIn,
    BookingEventIn,
    to_record,
)
from lambdas.gateway.parsing import field_problems
from tests.support.gateway import sample_booking, sample_event

AVRO_FIELDS = {f["name"]: f for f in AVRO_SCHEMA["fields"]}
#: Required in the record, optional in the request: the gateway assigns a UUID4.
SERVER_ASSIGNED_WHEN_ABSENT = {"event_id"}


def _json_kind(js: dict[str, Any], defs: dict[str, Any]) -> tuple[str, bool, Any]:
    """(base JSON type, nullable, enum symbols or map value type) of a property's JSON schema."""
    if "$ref" in js:
        js = defs[js["$ref"].rsplit("/", 1)[-1]]
    variants = js.get("anyOf", [js])
    nullable = any(v.get("type") == "null" for v in variants)
    rest = [v for v in variants if v.get("type") != "null"]
    if {v.get("type") for v in rest} == {"integer", "string"}:  # event_ts: millis or ISO-8601 string
        return "timestamp", nullable, None
    (one,) = rest
    if "enum" in one:
        return "enum", nullable, tuple(one["enum"])
    if one.get("type") == "object":
        return "map", nullable, one["additionalProperties"]["type"]
    return one["type"], nullable, None


def _avro_kind(avro_type: Any) -> tuple[str, bool, Any]:
    nullable = isinstance(avro_type, list) and "null" in avro_type
    if isinstance(avro_type, list):
        (avro_type,) = [t for t in avro_type if t != "null"]
    if isinstance(avro_type, dict):
        if avro_type["type"] == "enum":
            return "enum", nullable, tuple(avro_type["symbols"])
        if avro_type["type"] == "map":
            return "map", nullable, avro_type["values"]
        if avro_type.get("logicalType") == "timestamp-millis":
            return "timestamp", nullable, None
        avro_type = avro_type["type"]
    return {"string": "string", "double": "number", "long": "integer", "int": "integer"}[avro_type], nullable, None


@pytest.mark.parametrize("model", [AppEventIn, BookingEventIn])
def test_every_model_field_maps_onto_the_schema_with_type_and_optionality(model: type[AppEventIn]) -> None:
    js = model.model_json_schema()
    defs = js.get("$defs", {})
    required = set(js.get("required", []))
    assert set(js["properties"]) == set(model.model_fields)
    for name, prop in js["properties"].items():
        assert name in AVRO_FIELDS, f"{model.__name__}.{name} is not a field of app_event.avsc"
        avro = AVRO_FIELDS[name]
        j_kind, j_null, j_extra = _json_kind(prop, defs)
        a_kind, a_null, a_extra = _avro_kind(avro["type"])
        assert j_kind == a_kind, f"{name}: model {j_kind}, schema {a_kind}"
        narrowed = model is BookingEventIn and name == "booking_id"  # the booking route's one extra rule
        if narrowed:
            assert a_null and not j_null  # a narrowing is fine: every value it allows fits the schema
        else:
            # event_id: null/absent mean "assign one"; every other field is nullable exactly when the schema is.
            assert j_null == (a_null or name in SERVER_ASSIGNED_WHEN_ABSENT), f"{name}: nullable {j_null} vs {a_null}"
        if a_kind == "enum":
            allowed = set(BOOKING_EVENT_TYPES) if model is BookingEventIn and name == "event_type" else set(a_extra)
            assert set(j_extra) == allowed and allowed <= set(a_extra), name
        if a_kind == "map":
            assert j_extra == a_extra == "string", name
        schema_optional = "default" in avro
        model_optional = name not in required
        if name in SERVER_ASSIGNED_WHEN_ABSENT:
            assert model_optional and not schema_optional
        elif narrowed:
            assert not model_optional
        else:
            assert model_optional == schema_optional, f"{name}: optional {model_optional} vs {schema_optional}"
            if a_null:
                assert model.model_fields[name].default is None


def test_schema_fields_missing_from_the_model_are_exactly_the_server_set_ones() -> None:
    assert set(AVRO_FIELDS) - set(AppEventIn.model_fields) == set(SERVER_FIELDS)


def test_to_record_has_every_schema_field_and_round_trips_through_the_serde(settings) -> None:
    serde = AvroSerde(settings)
    event = AppEventIn.model_validate(sample_booking(properties={"coupon": "SUMMER"}))
    record = to_record(event, event_id="e-1", received_ts=1_735_689_601_000, client_ip="10.1.2.3", user_agent="ua/1")
    assert list(record) == list(AVRO_FIELDS)
    decoded = serde.decode(serde.encoder("topic_app_events", ("event_id",))(record))
    assert decoded["event_ts"] == datetime.fromtimestamp(event.event_ts / 1000, UTC)
    assert decoded["received_ts"] == datetime.fromtimestamp(1_735_689_601, UTC)
    assert {k: v for k, v in decoded.items() if not k.endswith("_ts")} == {
        k: v for k, v in record.items() if not k.endswith("_ts")
    }


@pytest.mark.parametrize(
    ("value", "millis"),
    [
        (1_735_689_600_123, 1_735_689_600_123),
        ("2025-01-01T00:00:00.123Z", 1_735_689_600_123),
        ("2025-01-01T07:00:00+07:00", 1_735_689_600_000),
    ],
)
def test_event_ts_takes_millis_or_iso8601_with_offset(value: Any, millis: int) -> None:
    assert AppEventIn.model_validate(sample_event(event_ts=value)).event_ts == millis


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2025-01-01T00:00:00", "UTC offset"),
        ("yesterday", "not an ISO-8601"),
        (1_735_689_600, "outside 2000-01-01..2100-01-01"),  # seconds, not millis
        (1.7e12, "got float"),
        (True, "got bool"),
        ("0001-01-01T00:00:00Z", "outside"),
    ],
)
def test_bad_event_ts_is_refused_with_a_reason(value: Any, words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        AppEventIn.model_validate(sample_event(event_ts=value))
    (problem,) = field_problems(exc.value)
    assert problem["field"] == "event_ts" and words in problem["problem"]


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"user_id": 42}, "user_id", "valid string"),
        ({"user_id": ""}, "user_id", "must not be empty"),
        ({"amount": "12.5"}, "amount", "valid number"),
        ({"currency": "vnd"}, "currency", "ISO 4217"),
        ({"event_type": "teleport"}, "event_type", "'app_open'"),
        ({"platform": "symbian"}, "platform", "'ios'"),
        ({"received_ts": 1}, "received_ts", "set by the gateway"),
        ({"client_ip": "1.2.3.4"}, "client_ip", "set by the gateway"),
        ({"userId": "u"}, "userId", "not a field of AppEvent"),
        ({"properties": {"k": 1}}, "properties.k", "valid string"),
        ({"event_type": "payment_submitted"}, "(body)", "booking_id is required"),
    ],
)
def test_invalid_fields_are_named(overrides: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        AppEventIn.model_validate(sample_event(**overrides))
    problems = field_problems(exc.value)
    assert any(p["field"] == field and words in p["problem"] for p in problems), problems


def test_booking_model_needs_a_booking_type_and_a_booking_id() -> None:
    assert BookingEventIn.model_validate(sample_booking()).booking_id == "bk-1"
    with pytest.raises(ValidationError) as exc:
        BookingEventIn.model_validate(sample_event(event_type="booking_view"))
    assert {p["field"] for p in field_problems(exc.value)} == {"booking_id"}
    with pytest.raises(ValidationError) as exc:
        BookingEventIn.model_validate(sample_booking(event_type="search"))
    assert {p["field"] for p in field_problems(exc.value)} == {"event_type"}


@pytest.mark.parametrize(
    "payload",
    [
        sample_event(),
        sample_event(event_ts="2025-01-01T00:00:00Z", amount=3),
        sample_event(amount="3"),
        sample_event(user_id=7),
        sample_event(event_ts="1735689600000"),
        sample_event(properties={"a": None}),
        sample_event(device_id=None, booking_id=None),
    ],
)
def test_json_and_python_validation_agree(payload: dict[str, Any]) -> None:
    """Single routes validate the raw bytes; the batch route validates orjson's objects."""
    body = orjson.dumps(payload)

    def outcome(fn: Any) -> Any:
        try:
            return fn().model_dump()
        except ValidationError as exc:
            return sorted(p["field"] for p in field_problems(exc))

    assert outcome(lambda: AppEventIn.model_validate_json(body)) == outcome(
        lambda: AppEventIn.model_validate(orjson.loads(body))
    )
