"""The Glue Schema Registry wire format inside Spark: decode with ``from_avro``, encode with ``to_avro``.

Same bytes as ``eventbus.serde`` (byte 0 = 3, byte 1 = compression, bytes 2-17 = schema version id,
then the Avro body), done with Spark expressions so no record crosses into Python::

    >>> codec = WireCodec.for_topics(settings, ["topic_app_events"])
    >>> rows = codec.records(kafka_df, "topic_app_events", fields=("event_id", "event_ts"))  # + rec
    >>> decoded = codec.decode(kafka_df, "topic_app_events")   # + rec, error_type, error_message
    >>> out = df.select(codec.encode(F.struct(...), "topic_processed_events").alias("value"))

Schemas the right way round: each record is read with the **writer** schema of its own version (the
18-byte header names it) and resolved onto the query's **reader** schema — the topic's latest registered
version, projected onto the fields the query needs. ``from_avro(body, writer, {"avroSchema": reader})``:
the JSON schema argument is the data's schema and ``avroSchema`` the evolved one it is read as
(pyspark ``from_avro`` docs; SPARK-27506, apache/spark#24405). Every branch has the reader's type.

A record whose header names a version this codec does not know stops the micro-batch with
``UNKNOWN_VERSION`` in the error (``raise_error``) instead of being skipped: nothing is committed, the
driver refreshes the versions from the registry and restarts the query from its checkpoint
(``emr_jobs.supervisor``). A version id the registry does not have either is *confirmed unknown*; from
then on it decodes to an ``unknown_schema_version`` dead letter, like every other undecodable record.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import fastavro

from eventbus import aws
from eventbus.catalog import Catalog, load_catalog
from eventbus.serde import COMPRESSION_NONE, COMPRESSION_ZLIB, HEADER_LEN, HEADER_VERSION, AvroSerde
from eventbus.settings import Settings

#: Union members by type name (member_string, member_long…) instead of member0, member1….
AVRO_OPTIONS = {"mode": "PERMISSIVE", "enableStableIdentifiersForUnionType": "true"}
#: Marker of the error a batch fails with when a record names a version the codec has not loaded.
UNKNOWN_VERSION = "eb-unknown-schema-version"
_UNKNOWN_RE = re.compile(UNKNOWN_VERSION + r":(?P<topic>[\w.-]+):(?P<vid>[0-9A-F]{32})")


def unknown_versions(text: str) -> set[tuple[str, str]]:
    """``{(catalog topic, version id hex)}`` named by ``UNKNOWN_VERSION`` errors in ``text``."""
    return {(m["topic"], m["vid"]) for m in _UNKNOWN_RE.finditer(text or "")}


def registered_versions(settings: Settings, schema_name: str, glue: Any = None) -> dict[str, str]:
    """``{version id as 32 upper-case hex: definition}`` of every AVAILABLE version of ``schema_name``, oldest
    first (the last is the query's reader).

    Walks version numbers 1..latest with ``get_schema_version`` (the emulator lacks ListSchemaVersions). Glue
    checks compatibility after registering (Status PENDING, then AVAILABLE or FAILURE): a version that failed,
    is being deleted or is not yet checked is no writer any producer of this project uses
    (``eventbus.registry`` waits for AVAILABLE) and must not become the reader; a record naming one is
    undecodable like any unknown version. No Status (the emulator) counts as AVAILABLE.
    """
    glue = glue or aws.client("glue", settings)
    schema_id = {"RegistryName": settings.registry_name, "SchemaName": schema_name}
    latest = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True})
    versions: dict[str, str] = {}
    for number in range(1, int(latest["VersionNumber"]) + 1):
        got = latest if number == latest["VersionNumber"] else glue.get_schema_version(
            SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": number})
        if got.get("Status", "AVAILABLE") == "AVAILABLE":
            versions[uuid.UUID(got["SchemaVersionId"]).hex.upper()] = got["SchemaDefinition"]
    return versions


def project(schema_text: str, fields: tuple[str, ...] | None) -> str:
    """``schema_text`` keeping only ``fields`` (in schema order): a reader that skips the rest.

    Falls back to the whole schema when a kept field refers to a named type defined in a dropped one.
    """
    if not fields:
        return schema_text
    schema = json.loads(schema_text)
    missing = set(fields) - {f["name"] for f in schema["fields"]}
    if missing:
        raise ValueError(f"{schema.get('name')}: no field(s) {', '.join(sorted(missing))}")
    projected = {**schema, "fields": [f for f in schema["fields"] if f["name"] in fields]}
    try:
        fastavro.parse_schema(projected)
    except Exception:  # a named type defined in a dropped field: read every field instead
        return schema_text
    return json.dumps(projected)


def _required(schema_text: str) -> str | None:
    """The first field that cannot be null: null there means PERMISSIVE from_avro could not read the body."""
    for f in json.loads(schema_text)["fields"]:
        t = f["type"]
        if not (isinstance(t, list) and "null" in t):
            return str(f["name"])
    return None


@dataclass
class WireCodec:
    """Per-topic writer versions and headers, resolved through the registry on the driver."""

    settings: Settings
    catalog: Catalog
    serde: AvroSerde
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Version ids seen in records that the registry does not have: dead letters, not restarts.
    confirmed_unknown: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def for_topics(cls, settings: Settings, topics: list[str]) -> WireCodec:
        catalog = load_catalog(settings)
        serde = AvroSerde(settings, catalog=catalog)
        codec = cls(settings, catalog, serde)
        for topic in topics:
            codec.load(topic)
        return codec

    def load(self, topic: str) -> dict[str, str]:
        """Register the catalog's schema of ``topic`` (if new) and fetch every version of it."""
        if topic not in self.versions:
            self.serde.header(topic)  # registers the current catalog schema
            self.versions[topic] = registered_versions(self.settings, self.catalog.get(topic).schema_name)
        return self.versions[topic]

    def refresh(self, topic: str, seen: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
        """Re-read ``topic``'s versions; ids in ``seen`` still unregistered become confirmed unknown.
        Returns the ids that are new."""
        before = set(self.load(topic))
        self.versions[topic] = registered_versions(self.settings, self.catalog.get(topic).schema_name)
        self.confirmed_unknown.setdefault(topic, set()).update(set(seen) - set(self.versions[topic]))
        return set(self.versions[topic]) - before

    def reader(self, topic: str, fields: tuple[str, ...] | None = None) -> str:
        """The reader schema: the latest registered version of ``topic``, projected onto ``fields``."""
        latest = list(self.load(topic).values())[-1]
        return project(latest, fields)

    def header(self, topic: str) -> bytes:
        return self.serde.header(topic)

    # -- decode ------------------------------------------------------------------------------------
    def _rec(self, topic: str, reader: str) -> Any:
        """The decoded struct (reader's type) or null; a batch error for a version not loaded yet."""
        from pyspark.sql import functions as F
        from pyspark.sql.avro.functions import from_avro

        value = F.col("value")
        vid = F.substring(value, 3, 16)
        body = F.expr(f"substring(value, {HEADER_LEN + 1}, length(value) - {HEADER_LEN})")
        # header checks on the bytes themselves (no hex strings per record)
        header_ok = F.coalesce(value.isNotNull() & (F.length(value) >= HEADER_LEN)
                               & (F.substring(value, 1, 2) == F.lit(bytes([HEADER_VERSION, COMPRESSION_NONE]))),
                               F.lit(False))
        rec = F.when(~header_ok, F.lit(None))
        for vid_hex, writer in self.load(topic).items():
            rec = rec.when(vid == F.lit(bytes.fromhex(vid_hex)), from_avro(body, writer, {**AVRO_OPTIONS,
                                                                                          "avroSchema": reader}))
        bad = sorted(self.confirmed_unknown.get(topic, ()))
        if bad:
            rec = rec.when(vid.isin([F.lit(bytes.fromhex(b)) for b in bad]), F.lit(None))
        return rec.otherwise(F.raise_error(F.concat(F.lit(f"{UNKNOWN_VERSION}:{topic}:"), F.hex(vid))))

    def branch(self, topic: str, fields: tuple[str, ...] | None, on: Any = None) -> tuple[Any, Any]:
        """(the decoded ``rec`` column of ``topic`` — only where ``on`` holds —, and a function telling a
        decoded struct from an undecodable one)."""
        from pyspark.sql import functions as F

        reader = self.reader(topic, fields)
        rec = self._rec(topic, reader)
        if on is not None:  # rows of another topic are not this decoder's business (nor its errors)
            rec = F.when(on, rec)
        required = _required(reader)

        def keep(col: Any) -> Any:
            return col.isNotNull() & (col[required].isNotNull() if required else F.lit(True))

        return rec, keep

    def records(self, df: Any, topic: str, fields: tuple[str, ...] | None = None) -> Any:
        """The decodable records of ``df`` (Kafka source columns) with ``rec`` = the record's ``fields``.

        Undecodable ones are left out here; the lake query dead-letters them (``decode``)."""
        from pyspark.sql import functions as F

        rec, keep = self.branch(topic, fields)
        # ``rec`` out of a one-element explode: a filter on it cannot be pushed below the generator, so
        # the optimizer cannot inline (and run again) from_avro once per reference.
        return df.select("*", F.explode(F.array(rec)).alias("rec")).where(keep(F.col("rec")))

    def decode(self, df: Any, topic: str) -> Any:
        """``df`` plus ``rec`` (every field of the reader; null when undecodable), ``schema_version``,
        ``error_type`` and ``error_message`` (null when decoded)."""
        from pyspark.sql import functions as F

        reader = self.reader(topic)
        value = F.col("value")
        df = df.select("*", F.explode(F.array(self._rec(topic, reader))).alias("rec"))
        has_vid = value.isNotNull() & (F.length(value) >= HEADER_LEN)
        hexvid = F.hex(F.substring(value, 3, 16))
        version = F.lower(F.concat_ws("-", *[F.substring(hexvid, a, n)
                                             for a, n in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]))
        df = df.withColumn("schema_version", F.when(has_vid, version))
        byte0, byte1 = F.substring(value, 1, 1), F.substring(value, 2, 1)
        n = F.length(value).cast("string")
        required = _required(reader)
        reasons = [
            (value.isNull(), "null_value", F.lit("null value (tombstone) on a source topic")),
            (F.length(value) < HEADER_LEN, "not_glue_wire",
             F.concat(F.lit("too short for the Glue wire format: "), n, F.lit(" bytes"))),
            (byte0 != F.lit(bytes([HEADER_VERSION])), "not_glue_wire",
             F.concat(F.lit("not a Glue Schema Registry record: header byte "), F.hex(byte0),
                      F.lit(f", expected {HEADER_VERSION:02X}"))),
            (byte1 == F.lit(bytes([COMPRESSION_ZLIB])), "compressed",
             F.lit("zlib-compressed body: the Spark jobs read uncompressed records (producer compress=False)")),
            (byte1 != F.lit(bytes([COMPRESSION_NONE])), "unknown_compression",
             F.concat(F.lit("unknown compression byte "), F.hex(byte1))),
            (~hexvid.isin(list(self.load(topic))), "unknown_schema_version",
             F.concat(F.lit("schema version "), F.col("schema_version"),
                      F.lit(f" is not registered for {topic} in the schema registry"))),
            # PERMISSIVE from_avro yields a struct of nulls (not a null struct) for a body it cannot read
            (F.col("rec").isNull() | (F.col(f"rec.{required}").isNull() if required else F.lit(False)), "bad_avro",
             F.concat(F.lit("Avro body does not decode with schema version "), F.col("schema_version"))),
        ]
        etype: Any = None
        emsg: Any = None
        for cond, kind, msg in reasons:
            etype = F.when(cond, F.lit(kind)) if etype is None else etype.when(cond, F.lit(kind))
            emsg = F.when(cond, msg) if emsg is None else emsg.when(cond, msg)
        return df.withColumn("error_type", etype).withColumn("error_message", emsg)

    # -- encode ------------------------------------------------------------------------------------
    def encode(self, struct_col: Any, topic: str) -> Any:
        """Glue-wire-format bytes of ``struct_col`` with ``topic``'s catalog schema (registered version)."""
        from pyspark.sql import functions as F
        from pyspark.sql.avro.functions import to_avro

        return F.concat(F.lit(self.header(topic)), to_avro(struct_col, self.catalog.get(topic).schema_text))
