"""The Spark codec on ``createDataFrame`` bytes (registry: moto in-process, no Kafka): writer and reader
the right way round, projected readers, header checks, and a version registered after the codec was
built — a batch error naming it, decodable after ``refresh``; an id the registry lacks, a dead letter."""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import pytest
from pyspark.sql import SparkSession

from emr_jobs.wire import UNKNOWN_VERSION, WireCodec, unknown_versions
from eventbus.serde import AvroSerde
from tests.support import spark_data as data
from tests.support.spark_kit import evolved_app_event, version_encoder

TOPIC = "topic_app_events"
FIELDS = ("event_id", "event_ts", "platform")



def _frame(spark: SparkSession, values: list[bytes]) -> Any:
    return spark.createDataFrame([(bytearray(v), i) for i, v in enumerate(values)], "value binary, offset long")


def test_records_decode_projected_fields(spark: SparkSession, settings) -> None:
    codec = WireCodec.for_topics(settings, [TOPIC])
    events = data.app_events(5)
    serde = AvroSerde(settings)
    rows = codec.records(_frame(spark, [serde.encode(TOPIC, e) for e in events]), TOPIC, FIELDS)
    assert rows.schema["rec"].dataType.fieldNames() == list(FIELDS)
    assert sorted(r.rec.event_id for r in rows.collect()) == sorted(e["event_id"] for e in events)


def test_a_version_registered_later_fails_the_batch_then_decodes_after_refresh(spark: SparkSession, settings) -> None:
    codec = WireCodec.for_topics(settings, [TOPIC])
    serde = AvroSerde(settings)
    v1, v2_event = data.app_events(2)
    v2 = version_encoder(settings, TOPIC, evolved_app_event("referral_code"))
    frame = _frame(spark, [serde.encode(TOPIC, v1), v2({**v2_event, "referral_code": "fb"})])
    with pytest.raises(Exception, match=UNKNOWN_VERSION) as failed:
        codec.records(frame, TOPIC, FIELDS).collect()
    seen = unknown_versions(str(failed.value))
    assert [t for t, _ in seen] == [TOPIC]
    new = codec.refresh(TOPIC, {v for _, v in seen})
    assert new == {v for _, v in seen} and not codec.confirmed_unknown[TOPIC]
    # the reader is the newest version: the projected one skips the new field, the full one has it
    assert {r.rec.event_id for r in codec.records(frame, TOPIC, FIELDS).collect()} == {v1["event_id"],
                                                                                      v2_event["event_id"]}
    full = {r.rec.event_id: r.rec.referral_code for r in codec.decode(frame, TOPIC).collect()}
    assert full == {v1["event_id"]: None, v2_event["event_id"]: "fb"}


def test_undecodable_records_say_why(spark: SparkSession, settings) -> None:
    codec = WireCodec.for_topics(settings, [TOPIC])
    serde = AvroSerde(settings)
    good = serde.encode(TOPIC, data.app_events(1)[0])
    stranger = good[:2] + uuid.uuid4().bytes + good[18:]
    frame = _frame(spark, [good, b"hello, not avro", bytes([3, 5]) + good[2:18] + zlib.compress(good[18:]),
                           good[:18], stranger])
    with pytest.raises(Exception, match=UNKNOWN_VERSION) as failed:
        codec.decode(frame, TOPIC).collect()
    codec.refresh(TOPIC, {v for _, v in unknown_versions(str(failed.value))})  # not registered: confirmed
    got = {r.offset: r.error_type for r in codec.decode(frame, TOPIC).collect()}
    assert got == {0: None, 1: "not_glue_wire", 2: "compressed", 3: "bad_avro", 4: "unknown_schema_version"}
    assert [r.offset for r in codec.records(frame, TOPIC, FIELDS).collect()] == [0]


def test_only_available_versions_are_writers_or_the_reader(settings: Any) -> None:
    """Glue numbers a version before its compatibility check: one that FAILED (or is PENDING/DELETING) is
    neither a writer the jobs decode with nor the query's reader, which stays the last AVAILABLE one."""

    import boto3
    from botocore.stub import Stubber

    from emr_jobs.wire import registered_versions

    client = boto3.client("glue", region_name="us-east-1")
    ids = [str(uuid.uuid4()) for _ in range(4)]
    statuses = ["AVAILABLE", "AVAILABLE", "FAILURE", "PENDING"]

    def answer(n: int) -> dict[str, Any]:
        return {"SchemaVersionId": ids[n - 1], "SchemaDefinition": f'{{"v": {n}}}', "VersionNumber": n,
                "Status": statuses[n - 1], "DataFormat": "AVRO"}

    with Stubber(client) as stub:
        stub.add_response("get_schema_version", answer(4))
        for n in (1, 2, 3):
            stub.add_response("get_schema_version", answer(n))
        versions = registered_versions(settings, "topic_app_events", glue=client)
        stub.assert_no_pending_responses()
    assert list(versions) == [uuid.UUID(i).hex.upper() for i in ids[:2]]
    assert list(versions.values())[-1] == '{"v": 2}'
