from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from eventbus.exceptions import SchemaValidationError, SerdeError, UnknownTopicError
from eventbus.registry import SchemaRegistry
from eventbus.serde import HEADER_LEN, AvroSerde
from eventbus.settings import Settings


def _log_record(**over: object) -> dict:
    rec = {
        "log_id": "l-1",
        "ts": 1_700_000_000_000,
        "service": "search-api",
        "host": "ip-10-0-0-1",
        "level": "ERROR",
        "logger": "search.handler",
        "message": "upstream timeout",
        "trace_id": None,
        "span_id": None,
        "user_id": "u-1",
        "session_id": None,
        "http_method": "GET",
        "path": "/search",
        "status_code": 504,
        "latency_ms": 3012.5,
        "stack_trace": None,
        "attributes": {"region": "ap-southeast-1"},
    }
    rec.update(over)
    return rec


def test_round_trip_uses_glue_wire_format(settings: Settings) -> None:
    serde = AvroSerde(settings)
    data = serde.encode("topic_app_logs", _log_record())
    assert data[0] == 3 and data[1] == 0
    version_id = uuid.UUID(bytes=data[2:HEADER_LEN])
    # The header's UUID is the registry's version id of exactly this schema.
    glue_def = SchemaRegistry(settings).definition(version_id)
    assert '"AppLog"' in glue_def
    out = serde.decode(data, "topic_app_logs")
    assert out["service"] == "search-api" and out["status_code"] == 504
    assert out["ts"] == datetime.fromtimestamp(1_700_000_000, tz=UTC)


def test_decoder_without_cache_fetches_writer_schema_from_registry(settings: Settings) -> None:
    data = AvroSerde(settings).encode("topic_app_logs", _log_record())
    fresh = AvroSerde(settings)  # a new process: no cached schema versions
    assert fresh.decode(data)["message"] == "upstream timeout"


def test_zlib_compression_round_trip(settings: Settings) -> None:
    serde = AvroSerde(settings, compress=True)
    data = serde.encode("topic_app_logs", _log_record(message="x" * 2000))
    assert data[1] == 5 and len(data) < 500
    assert data == serde.encode_fastavro("topic_app_logs", _log_record(message="x" * 2000))  # compiled == fastavro
    assert serde.decode(data)["message"] == "x" * 2000


def test_bad_record_names_the_field(settings: Settings) -> None:
    serde = AvroSerde(settings)
    with pytest.raises(SchemaValidationError) as err:
        serde.encode("topic_app_logs", _log_record(status_code="five hundred"))
    assert err.value.field == "status_code"
    assert "status_code" in str(err.value)


def test_missing_required_field_is_named(settings: Settings) -> None:
    rec = _log_record()
    del rec["service"]
    with pytest.raises(SchemaValidationError) as err:
        AvroSerde(settings).encode("topic_app_logs", rec)
    assert err.value.field == "service"


def test_bad_enum_symbol_is_named(settings: Settings) -> None:
    with pytest.raises(SchemaValidationError) as err:
        AvroSerde(settings).encode("topic_app_logs", _log_record(level="LOUD"))
    assert err.value.field == "level"


def test_unknown_topic_raises(settings: Settings) -> None:
    with pytest.raises(UnknownTopicError, match="topic_nope.*topic_app_events"):
        AvroSerde(settings).encode("topic_nope", {})


def test_garbage_bytes_raise_serde_error(settings: Settings) -> None:
    serde = AvroSerde(settings)
    with pytest.raises(SerdeError, match="header byte 3"):
        serde.decode(b'{"json": true}')
    with pytest.raises(SerdeError):
        serde.decode(bytes([3, 9]) + uuid.uuid4().bytes + b"\x00")


def test_schema_is_registered_once_per_process(settings: Settings) -> None:
    serde = AvroSerde(settings)
    first = serde.header("topic_app_logs")
    calls: list[tuple[Any, ...]] = []
    original = serde.registry.register

    def counted(*a: Any, **k: Any) -> Any:
        calls.append(a)
        return original(*a, **k)

    serde.registry.register = counted  # type: ignore[method-assign]
    for _ in range(100):
        serde.encode("topic_app_logs", _log_record())
    assert serde.header("topic_app_logs") == first and calls == []


def test_int_beyond_64_bits_takes_fastavros_branch(settings: Settings) -> None:
    # The compiled encoder must not write an out-of-range int as a long: the union's double branch
    # (what fastavro picks) is the only faithful encoding; the CDC row map carries such values.
    import io

    import fastavro

    serde = AvroSerde(settings)
    record = {
        "before": None, "after": {"a": 2**63, "b": -(2**63) - 1, "c": 2**63 - 1, "d": -(2**63)},
        "source": {"version": "1", "connector": "postgresql", "name": "t", "ts_ms": 1, "snapshot": "false",
                   "db": "d", "schema": "public", "table": "t", "txId": None, "lsn": None, "xmin": None},
        "op": "c", "ts_ms": None, "transaction": None,
    }
    spec = serde.catalog.get("topic_cdc_changes")
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, spec.schema, record)
    assert serde.encode("topic_cdc_changes", record) == serde.header("topic_cdc_changes") + buf.getvalue()
    assert serde.decode(serde.encode("topic_cdc_changes", record))["after"]["a"] == float(2**63)


# -- decode: every failure is one SerdeError naming the schema version -------------------------------------
def _with_version(data: bytes, version_id: uuid.UUID, compression: int | None = None) -> bytes:
    comp = data[1] if compression is None else compression
    return bytes([data[0], comp]) + version_id.bytes + data[HEADER_LEN:]


def test_a_body_its_writer_schema_does_not_consume_is_refused(settings: Settings) -> None:
    # The reviewer's case: the registry's definition for a version id lost `stack_trace` (a re-seeded
    # emulator). Read with it, the old record's stack_trace null (0x00) became an empty attributes map and
    # the real attributes were left unread: {"k": "v"} came out as {} with no error.
    import json

    serde = AvroSerde(settings)
    data = serde.encode("topic_app_logs", _log_record(attributes={"k": "v"}))
    without = json.loads(serde.catalog.get("topic_app_logs").schema_text)
    without["fields"] = [f for f in without["fields"] if f["name"] != "stack_trace"]
    other = serde.registry.register("AppLogWithoutStackTrace", json.dumps(without))
    wrong = _with_version(data, other)
    for topic in (None, "topic_app_logs"):
        with pytest.raises(SerdeError, match=r"6 byte\(s\) after its Avro body") as err:
            AvroSerde(settings).decode(wrong, topic)
        assert str(other) in str(err.value)
        assert topic is None or f"topic {topic}" in str(err.value)
    assert serde.decode(data, "topic_app_logs")["attributes"] == {"k": "v"}  # the right version still reads


def test_a_corrupt_compressed_body_is_a_serde_error(settings: Settings) -> None:
    serde = AvroSerde(settings, compress=True)
    data = serde.encode("topic_app_logs", _log_record())
    version_id = uuid.UUID(bytes=data[2:HEADER_LEN])
    with pytest.raises(SerdeError, match="zlib-compressed body .* is corrupt") as err:
        serde.decode(data[:HEADER_LEN] + b"garbage", "topic_app_logs")
    assert str(version_id) in str(err.value) and "topic_app_logs" in str(err.value)
    with pytest.raises(SerdeError, match=str(version_id)):  # a truncated one too
        serde.decode(data[:-4])


def test_an_unknown_schema_version_is_a_serde_error_that_is_also_a_registry_error(settings: Settings) -> None:
    # SerdeError's contract covers it (consumers catch only SerdeError); RegistryError stays catchable for
    # callers that treat the registry as a dependency (the console answers 503 on it).
    from eventbus.exceptions import RegistryError

    serde = AvroSerde(settings)
    data = serde.encode("topic_app_logs", _log_record())
    unknown = uuid.uuid4()
    with pytest.raises(SerdeError) as err:
        AvroSerde(settings).decode(_with_version(data, unknown), "topic_app_logs")
    assert isinstance(err.value, RegistryError) and isinstance(err.value.__cause__, RegistryError)
    assert str(unknown) in str(err.value) and "topic_app_logs" in str(err.value)


# -- encode: what validate() refuses, every encoder path refuses, naming the field -----------------------------
VIA = ["compiled", "compiled+zlib", "fastavro"]  # the compiled encoder (falls back to fastavro) / fastavro alone


def _encoder(settings: Settings, via: str) -> tuple[AvroSerde, Any]:
    serde = AvroSerde(settings, compress=via == "compiled+zlib")
    return serde, (serde.encode_fastavro if via == "fastavro" else serde.encode)


@pytest.mark.parametrize("via", VIA)
def test_an_int_beyond_32_bits_is_refused_in_an_int_field(settings: Settings, via: str) -> None:
    # Was written as a 6-byte varint that Java/Spark readers refuse for an Avro int.
    serde, encode = _encoder(settings, via)
    for bad in (2**40, 2**31, -(2**31) - 1):
        with pytest.raises(SchemaValidationError, match="32-bit") as err:
            encode("topic_app_logs", _log_record(status_code=bad))
        assert err.value.field == "status_code"
    for edge in (2**31 - 1, -(2**31)):
        assert serde.decode(encode("topic_app_logs", _log_record(status_code=edge)))["status_code"] == edge


@pytest.mark.parametrize("via", VIA)
def test_a_bool_is_not_a_number(settings: Settings, via: str) -> None:
    # True was written as 1 in [null, int] (and False as 0.0 in a double, True as 1 ms in a timestamp).
    serde, encode = _encoder(settings, via)
    for field, value in (("status_code", True), ("latency_ms", False), ("ts", True)):
        with pytest.raises(SchemaValidationError, match=r"\(bool\)") as err:
            encode("topic_app_logs", _log_record(**{field: value}))
        assert err.value.field == field
    # an int is still a valid double
    assert serde.decode(encode("topic_app_logs", _log_record(latency_ms=12)))["latency_ms"] == 12.0


@pytest.mark.parametrize("via", VIA)
def test_a_key_that_is_not_a_field_is_refused_not_dropped(settings: Settings, via: str) -> None:
    # userId for user_id: the key was dropped and user_id written as null.
    serde, encode = _encoder(settings, via)
    typo = _log_record()
    typo["userId"] = typo.pop("user_id")
    with pytest.raises(SchemaValidationError, match="did you mean 'user_id'") as err:
        encode("topic_app_logs", typo)
    assert err.value.field == "userId"
    with pytest.raises(SchemaValidationError) as err:  # beside the real field too
        encode("topic_app_logs", _log_record(userId="u-2"))
    assert err.value.field == "userId"
    no_default = _log_record(userId="u-2")
    del no_default["stack_trace"]  # a defaulted field left out: the compiled encoder falls back to fastavro
    with pytest.raises(SchemaValidationError) as err:
        encode("topic_app_logs", no_default)
    assert err.value.field == "userId"
    with pytest.raises(SchemaValidationError, match="userId"):
        serde.validate("topic_app_logs", typo)


def test_a_key_that_is_not_a_field_of_a_nested_record_is_named_by_its_path(settings: Settings) -> None:
    source = {"version": "1", "connector": "postgresql", "name": "t", "ts_ms": 1, "snapshot": "false",
              "db": "d", "schema": "public", "table": "t", "txId": None, "lsn": None, "xmin": None}
    record = {"before": None, "after": {"id": 1}, "source": source, "op": "c", "ts_ms": None, "transaction": None}
    serde = AvroSerde(settings)
    serde.encode("topic_cdc_changes", record)  # as given: fine
    with pytest.raises(SchemaValidationError, match="did you mean 'txId'") as err:
        serde.encode("topic_cdc_changes", {**record, "source": {**source, "txid": 7}})
    assert err.value.field == "source.txid"


def test_the_compiled_encoder_itself_refuses_what_it_cannot_write_faithfully() -> None:
    # lambdas/simulators/replay.py calls it directly: it must raise, never write a wrong value.
    import json

    from eventbus.avro_compiler import compile_encoder
    from eventbus.catalog import load_catalog

    encode = compile_encoder(json.loads(load_catalog().get("topic_app_logs").schema_text))
    encode(_log_record())
    for bad in (_log_record(status_code=2**40), _log_record(status_code=True), _log_record(userId="u")):
        with pytest.raises((TypeError, KeyError)):
            encode(bad)
