"""The one Avro serde: fastavro bodies in AWS Glue Schema Registry's wire format.

Wire format (as the Glue SerDe library writes it)::

    byte 0      header version, 3
    byte 1      compression: 0 none, 5 zlib
    bytes 2-17  schema version id (UUID)
    rest        Avro binary body (zlib-deflated when byte 1 is 5)

    >>> from eventbus.serde import AvroSerde
    >>> serde = AvroSerde()
    >>> data = serde.encode("topic_app_logs", record)
    >>> serde.decode(data)["service"]
"""

from __future__ import annotations

import io
import json
import uuid
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from eventbus.avro_compiler import INT_MAX, INT_MIN, compile_encoder
from eventbus.avro_keys import StrayKeys
from eventbus.catalog import Catalog, load_catalog
from eventbus.exceptions import RegistryError, SchemaValidationError, SerdeError, WriterSchemaError
from eventbus.registry import SchemaRegistry
from eventbus.settings import Settings, get_settings

HEADER_VERSION = 3
COMPRESSION_NONE = 0
COMPRESSION_ZLIB = 5
HEADER_LEN = 18


def _field_of(exc: ValidationError, schema_name: str) -> tuple[str | None, str]:
    """The first failing field path and a readable reason, from fastavro's validation errors."""
    errors = list(getattr(exc, "errors", []))
    if not errors:
        return None, str(exc)
    path = str(errors[0].field or "")
    prefix = schema_name + "."
    field = (path[len(prefix):] if path.startswith(prefix) else path) or None
    datum = errors[0].datum
    if datum is None:
        return field, "required field is missing or null"
    expected: list[Any] = []  # a union fails once per branch: name them all
    for item in errors:
        if str(item.field or "") == path:
            kind = item.schema if isinstance(item.schema, str) else item.schema.get("type", item.schema)
            if kind not in expected:
                expected.append(kind)
    detail = f"got {datum!r} ({type(datum).__name__}), expected {' or '.join(map(str, expected))}"
    if "int" in expected and type(datum) is int and not INT_MIN <= datum <= INT_MAX:
        detail += f" (an Avro int is 32-bit, {INT_MIN}..{INT_MAX})"
    return field, detail


class AvroSerde:
    """Encode/decode records of catalog topics; schemas are parsed once and version ids cached."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: SchemaRegistry | None = None,
        catalog: Catalog | None = None,
        compress: bool = False,
    ) -> None:
        self.settings = settings or get_settings()
        self.catalog = catalog or load_catalog(self.settings)
        self.registry = registry or SchemaRegistry(self.settings)
        self.compress = compress
        self._headers: dict[str, bytes] = {}
        self._encoders: dict[tuple[str, tuple[str, ...]], Callable[[dict[str, Any]], bytes]] = {}
        self._writer_schemas: dict[uuid.UUID, Any] = {}
        self._keys: dict[str, StrayKeys] = {}

    # -- encoding --------------------------------------------------------------------------------
    def header(self, topic: str) -> bytes:
        """The 18-byte prefix for ``topic`` (registers the schema the first time)."""
        header = self._headers.get(topic)
        if header is None:
            spec = self.catalog.get(topic)
            version_id = self.registry.register(spec.schema_name, spec.schema_text)
            self._writer_schemas[version_id] = spec.schema
            comp = COMPRESSION_ZLIB if self.compress else COMPRESSION_NONE
            header = bytes([HEADER_VERSION, comp]) + version_id.bytes
            self._headers[topic] = header
        return header

    def encoder(self, topic: str, unique_fields: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], bytes]:
        """A fast ``record -> bytes`` function for ``topic`` (Glue header included), built once.

        It runs the schema-compiled encoder (``eventbus.avro_compiler``, byte-identical to fastavro and
        about twice as fast) and falls back to fastavro for what it does not take (datetimes, …), so a
        bad record still raises ``SchemaValidationError`` naming the field. ``unique_fields`` names
        string fields unique per record (ids), which skip the string cache.
        """
        cache_key = (topic, unique_fields)
        enc = self._encoders.get(cache_key)
        if enc is None:
            header = self.header(topic)
            slow = self.encode_fastavro
            compiled = compile_encoder(json.loads(self.catalog.get(topic).schema_text), header, unique_fields)
            if self.compress:  # the compiled body, deflated (the fallback compresses too)

                def enc(record: dict[str, Any], _c: Any = compiled, _t: str = topic, _h: bytes = header) -> bytes:
                    try:
                        data = _c(record)
                    except Exception:
                        data = None
                    if data is None:  # outside the handler, so the slow path's error is not chained to it
                        return slow(_t, record)
                    return _h + zlib.compress(data[HEADER_LEN:])
            else:

                def enc(record: dict[str, Any], _c: Any = compiled, _t: str = topic) -> bytes:
                    try:
                        return _c(record)
                    except Exception:  # outside the handler, so the slow path's error is not chained to it
                        pass
                    return slow(_t, record)

            self._encoders[cache_key] = enc
        return enc

    def encode(self, topic: str, record: dict[str, Any]) -> bytes:
        """Avro-encode ``record`` with the topic's schema; ``SchemaValidationError`` names the field."""
        enc = self._encoders.get((topic, ()))
        return (enc or self.encoder(topic))(record)

    def encode_fastavro(self, topic: str, record: dict[str, Any]) -> bytes:
        """fastavro: takes every value ``validate`` takes (datetimes too) and explains what it refuses.

        Validated first: fastavro alone would write an int beyond 32 bits into an int field (a varint Java
        readers refuse), True as 1, and drop a key that is not a field."""
        header = self.header(topic)
        self.validate(topic, record)
        buf = io.BytesIO()
        buf.write(header)
        try:
            fastavro.schemaless_writer(buf, self.catalog.get(topic).schema, record)
        except Exception as exc:  # fastavro raises TypeError/ValueError/AttributeError/KeyError
            raise self._explain(topic, record, exc) from exc
        if self.compress:
            return header + zlib.compress(buf.getvalue()[HEADER_LEN:])
        return buf.getvalue()

    def validate(self, topic: str, record: dict[str, Any], strict: bool = False) -> None:
        """Raise ``SchemaValidationError`` when ``record`` does not match the topic's schema: a value of the
        wrong type or range (a bool is not an int, an int is 32-bit) or a key that is not a field."""
        spec = self.catalog.get(topic)
        name = spec.schema["name"]
        if not isinstance(record, Mapping):
            raise SchemaValidationError(name, None, f"expected a dict, got {type(record).__name__}")
        keys = self._keys.get(topic)
        if keys is None:
            keys = self._keys[topic] = StrayKeys(json.loads(spec.schema_text))
        stray = keys.find(record)
        if stray is not None:
            raise SchemaValidationError(name, *stray)
        if validate(record, spec.schema, raise_errors=False, strict=strict):
            return  # (raise_errors=True builds an error per failed union branch: only to explain a failure)
        try:
            validate(record, spec.schema, raise_errors=True, strict=strict)
        except ValidationError as exc:
            field, detail = _field_of(exc, name)
            raise SchemaValidationError(name, field, detail) from exc

    def _explain(self, topic: str, record: Any, exc: Exception) -> SchemaValidationError:
        return SchemaValidationError(self.catalog.get(topic).schema["name"], None, f"{type(exc).__name__}: {exc}")

    # -- decoding --------------------------------------------------------------------------------
    def decode(self, data: bytes, topic: str | None = None) -> dict[str, Any]:
        """Decode Glue-wire-format bytes; with ``topic``, resolve onto the catalog's (reader) schema.

        Every failure is a ``SerdeError`` naming the schema version (and ``topic``): a body that its writer
        schema does not consume to the last byte was written with another schema, and is refused rather than
        returned wrong (a field's bytes read as the next field's).
        """
        if len(data) < HEADER_LEN or data[0] != HEADER_VERSION:
            raise SerdeError(
                f"not a Glue Schema Registry record{f' (topic {topic})' if topic else ''}: expected header byte "
                f"{HEADER_VERSION}, got {data[:1].hex() or 'empty'} ({len(data)} bytes)"
            )
        comp = data[1]
        if comp not in (COMPRESSION_NONE, COMPRESSION_ZLIB):
            raise SerdeError(f"unknown compression byte {comp}{f' (topic {topic})' if topic else ''}: "
                             f"the Glue wire format has {COMPRESSION_NONE} (none) and {COMPRESSION_ZLIB} (zlib)")
        version_id = uuid.UUID(bytes=bytes(data[2:HEADER_LEN]))
        writer = self._writer_schema(version_id, topic)
        reader = self.catalog.get(topic).schema if topic else None
        if comp == COMPRESSION_NONE:
            body = bytes(data[HEADER_LEN:])
        else:
            try:
                body = zlib.decompress(data[HEADER_LEN:])
            except zlib.error as exc:
                raise SerdeError(f"the zlib-compressed body of a record of {_where(version_id, topic)} is "
                                 f"corrupt: {exc}") from exc
        try:
            buf = io.BytesIO(body)
            record = fastavro.schemaless_reader(buf, writer, reader)
        except Exception as exc:  # EOFError, fastavro's ValueError/SchemaResolutionError, UnicodeDecodeError, …
            raise SerdeError(f"cannot decode a record of {_where(version_id, topic)}: "
                             f"{type(exc).__name__}: {exc}") from exc
        left = len(body) - buf.tell()
        if left:
            raise SerdeError(
                f"a record of {_where(version_id, topic)} has {left} byte(s) after its Avro body: it was written "
                "with another schema than the registry holds for that version id (a re-created registry or a "
                "wrong header?) — not decoded, as its fields would be misread"
            )
        return record  # type: ignore[return-value]

    def _writer_schema(self, version_id: uuid.UUID, topic: str | None = None) -> Any:
        schema = self._writer_schemas.get(version_id)
        if schema is None:
            try:
                text = self.registry.definition(version_id)
            except RegistryError as exc:
                where = f" (topic {topic})" if topic else ""
                raise WriterSchemaError(f"cannot get the writer schema of a record{where}: {exc}") from exc
            try:
                schema = fastavro.parse_schema(json.loads(text))
            except Exception as exc:  # the registry's definition is not JSON or not an Avro schema
                raise WriterSchemaError(
                    f"cannot decode a record of {_where(version_id, topic)}: the registry's definition of it "
                    f"does not parse: {type(exc).__name__}: {exc}"
                ) from exc
            self._writer_schemas[version_id] = schema
        return schema


def _where(version_id: uuid.UUID, topic: str | None) -> str:
    return f"schema version {version_id}" + (f" (topic {topic})" if topic else "")
