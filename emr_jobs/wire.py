"""The Glue Schema Registry wire format inside Spark: decode with ``from_avro``, encode with ``to_avro``.

Same bytes as ``eventbus.serde`` (byte 0 = 3, byte 1 = compression, bytes 2-17 = schema version id,
then the Avro body), done with Spark expressions so no record crosses into Python::

    >>> codec = WireCodec.for_topics(settings, ["topic_app_events"])
    >>> decoded = codec.decode(kafka_df, "topic_app_events")   # + rec, error_type, error_message
    >>> out = df.select(codec.encode(F.struct(...), "topic_processed_events").alias("value"))

Every schema version registered for a topic's schema when the codec is built is decodable (writer =
that version, reader = the catalog's schema, so old records evolve onto the current shape). A record
that cannot be decoded keeps ``rec`` null and says why in ``error_type``/``error_message``; the lake
query sends those to ``topic_dead_letter``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from eventbus import aws
from eventbus.catalog import Catalog, load_catalog
from eventbus.serde import COMPRESSION_NONE, COMPRESSION_ZLIB, HEADER_LEN, HEADER_VERSION, AvroSerde
from eventbus.settings import Settings

#: Union members by type name (member_string, member_long…) instead of member0, member1….
AVRO_OPTIONS = {"mode": "PERMISSIVE", "enableStableIdentifiersForUnionType": "true"}


def registered_versions(settings: Settings, schema_name: str) -> dict[str, str]:
    """``{version id as 32 upper-case hex: definition}`` of every version of ``schema_name``.

    Walks version numbers 1..latest with ``get_schema_version`` (the emulator lacks ListSchemaVersions).
    """
    glue = aws.client("glue", settings)
    schema_id = {"RegistryName": settings.registry_name, "SchemaName": schema_name}
    latest = glue.get_schema_version(SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True})
    versions: dict[str, str] = {}
    for number in range(1, int(latest["VersionNumber"]) + 1):
        got = latest if number == latest["VersionNumber"] else glue.get_schema_version(
            SchemaId=schema_id, SchemaVersionNumber={"VersionNumber": number})
        versions[uuid.UUID(got["SchemaVersionId"]).hex.upper()] = got["SchemaDefinition"]
    return versions


def _uuid_text(hex_col: Any) -> Any:
    from pyspark.sql import functions as F

    parts = [F.substring(hex_col, a, n) for a, n in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    return F.lower(F.concat_ws("-", *parts))


@dataclass
class WireCodec:
    """Per-topic writer versions and headers, resolved through the registry once on the driver."""

    settings: Settings
    catalog: Catalog
    serde: AvroSerde
    versions: dict[str, dict[str, str]] = field(default_factory=dict)

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
            spec = self.catalog.get(topic)
            self.versions[topic] = registered_versions(self.settings, spec.schema_name)
        return self.versions[topic]

    def header(self, topic: str) -> bytes:
        return self.serde.header(topic)

    # -- decode ------------------------------------------------------------------------------------
    def decode(self, df: Any, topic: str) -> Any:
        """``df`` (Kafka source columns) plus ``rec`` (the record struct, null when undecodable),
        ``schema_version``, ``error_type`` and ``error_message`` (null when decoded)."""
        from pyspark.sql import functions as F
        from pyspark.sql.avro.functions import from_avro

        reader = self.catalog.get(topic).schema_text
        versions = self.load(topic)
        value = F.col("value")
        vid_hex = F.hex(F.substring(value, 3, 16))
        body = F.expr(f"substring(value, {HEADER_LEN + 1}, length(value) - {HEADER_LEN})")
        byte0, byte1 = F.hex(F.substring(value, 1, 1)), F.hex(F.substring(value, 2, 1))
        rec: Any = None
        for vid, writer in versions.items():
            # a resolving reader only when this version differs from the catalog's schema
            opts = AVRO_OPTIONS if writer == reader else {**AVRO_OPTIONS, "avroSchema": writer}
            decoded = from_avro(body, reader, opts)
            rec = (F.when(vid_hex == vid, decoded) if rec is None else rec.when(vid_hex == vid, decoded))
        well_formed = (
            value.isNotNull() & (F.length(value) >= HEADER_LEN)
            & (byte0 == f"{HEADER_VERSION:02X}") & (byte1 == f"{COMPRESSION_NONE:02X}")
        )
        df = df.withColumn("schema_version", F.when(value.isNotNull() & (F.length(value) >= HEADER_LEN),
                                                    _uuid_text(vid_hex)))
        # ``rec`` comes out of a one-element explode: a filter on the error columns cannot be pushed below a
        # generator, so the optimizer cannot inline (and run again) from_avro once per reference.
        rec_col = F.when(well_formed, rec) if rec is not None else F.lit(None)
        df = df.select("*", F.explode(F.array(rec_col)).alias("rec"))
        known = vid_hex.isin(list(versions)) if versions else F.lit(False)
        n = F.length(value).cast("string")
        reasons = [
            (value.isNull(), "null_value", F.lit("null value (tombstone) on a source topic")),
            (F.length(value) < HEADER_LEN, "not_glue_wire",
             F.concat(F.lit("too short for the Glue wire format: "), n, F.lit(" bytes"))),
            (byte0 != f"{HEADER_VERSION:02X}", "not_glue_wire",
             F.concat(F.lit("not a Glue Schema Registry record: header byte "), byte0,
                      F.lit(f", expected {HEADER_VERSION:02X}"))),
            (byte1 == f"{COMPRESSION_ZLIB:02X}", "compressed",
             F.lit("zlib-compressed body: the Spark jobs read uncompressed records (producer compress=False)")),
            (byte1 != f"{COMPRESSION_NONE:02X}", "unknown_compression",
             F.concat(F.lit("unknown compression byte "), byte1)),
            (~known, "unknown_schema_version",
             F.concat(F.lit("schema version "), F.col("schema_version"),
                      F.lit(f" is not registered for {topic} (restart the job after registering a new version)"))),
            # PERMISSIVE from_avro yields a struct of nulls (not a null struct) for a body it cannot read
            (F.col("rec").isNull() | F.col(f"rec.{self.required_field(topic)}").isNull(), "bad_avro",
             F.concat(F.lit("Avro body does not decode with schema version "), F.col("schema_version"))),
        ]
        etype: Any = None
        emsg: Any = None
        for cond, kind, msg in reasons:
            etype = F.when(cond, F.lit(kind)) if etype is None else etype.when(cond, F.lit(kind))
            emsg = F.when(cond, msg) if emsg is None else emsg.when(cond, msg)
        return df.withColumn("error_type", etype).withColumn("error_message", emsg)

    def required_field(self, topic: str) -> str:
        """The first field of the topic's schema that cannot be null (every schema here has one)."""
        for f in json.loads(self.catalog.get(topic).schema_text)["fields"]:
            t = f["type"]
            if not (isinstance(t, list) and "null" in t):
                return str(f["name"])
        raise ValueError(f"{topic}: no required field to tell a decoded record from an undecodable one")

    # -- encode ------------------------------------------------------------------------------------
    def encode(self, struct_col: Any, topic: str) -> Any:
        """Glue-wire-format bytes of ``struct_col`` with ``topic``'s catalog schema (registered version)."""
        from pyspark.sql import functions as F
        from pyspark.sql.avro.functions import to_avro

        return F.concat(F.lit(self.header(topic)), to_avro(struct_col, self.catalog.get(topic).schema_text))
