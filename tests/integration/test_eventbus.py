"""The shared library against the real local broker and the AWS emulator (moto server)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

from eventbus.catalog import Catalog, load_catalog
from eventbus.exceptions import DeliveryError, UnknownTopicError
from eventbus.kafka import Producer, apply_topics, make_admin, topic_configs
from eventbus.kafka.reader import end_offsets, read_range
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.bootstrap.local_resources import apply_local
from lambdas.bootstrap.settings import BootstrapSettings
from tests.support.harness import inject_fatal, scratch_topics
from tests.support.spark_kit import read_topic

pytestmark = pytest.mark.integration


def _settings() -> Settings:
    return Settings(profile="local")


def _log(service: str, log_id: str) -> dict:
    return {
        "log_id": log_id, "ts": int(time.time() * 1000), "service": service, "host": "h1",
        "level": "WARN", "logger": "it", "message": "round trip", "attributes": {"k": "v"},
        "trace_id": None, "span_id": None, "user_id": None, "session_id": None, "http_method": None,
        "path": None, "status_code": None, "latency_ms": 1.5, "stack_trace": None,
    }


def test_produce_consume_round_trip_through_serde_and_registry() -> None:
    settings = _settings()
    serde = AvroSerde(settings)
    topic = "topic_app_logs"
    start = end_offsets(settings, topic)
    ids = [str(uuid.uuid4()) for _ in range(50)]
    with Producer(settings, client_id="it-roundtrip") as producer:
        for i, log_id in enumerate(ids):
            producer.produce(topic, serde.encode(topic, _log(f"svc-{i % 3}", log_id)), key=f"svc-{i % 3}")
    assert producer.delivered == 50 and producer.failed == 0

    # read_range decodes with a fresh serde: the writer schema comes from the registry by version id.
    got = list(read_range(settings, start, end_offsets(settings, topic), topic))
    decoded = {record["log_id"]: ((key or b"").decode(), record) for key, record in got}
    assert set(ids) <= set(decoded)
    for key, record in decoded.values():
        assert record["service"] == key  # keyed by service, per the catalog


def test_catalog_applied_twice_is_a_no_op() -> None:
    settings = _settings()
    apply_local(settings, BootstrapSettings())
    second = apply_local(settings, BootstrapSettings())
    assert not second.topics.changed
    assert sorted(second.topics.unchanged) == sorted(load_catalog(settings).names())
    assert set(second.schemas) == set(load_catalog(settings).names())
    assert second.buckets_created == [] and second.secret_created is False


def test_topics_have_the_catalog_partitions_and_configs() -> None:
    settings = _settings()
    catalog = load_catalog(settings)
    meta = make_admin(settings).list_topics(timeout=10).topics
    configs = topic_configs(settings, catalog.names())
    for spec in catalog:
        assert len(meta[spec.name].partitions) == spec.partitions, spec.name
        assert configs[spec.name]["cleanup.policy"] == spec.cleanup_policy
    assert configs["topic_user_state"]["cleanup.policy"] == "compact"
    assert configs["topic_booking_state"]["cleanup.policy"] == "compact"
    assert configs["topic_user_state"]["min.cleanable.dirty.ratio"] == "0.1"
    assert configs["topic_external_data"]["retention.ms"] == str(30 * 86_400_000)
    assert configs["topic_dead_letter"]["retention.ms"] == str(14 * 86_400_000)


def test_drifted_config_is_repaired() -> None:
    settings = _settings()
    admin = make_admin(settings)
    res = ConfigResource(
        ConfigResource.Type.TOPIC,
        "topic_booking_state",
        incremental_configs=[ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SET)],
    )
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result()
    assert topic_configs(settings, ["topic_booking_state"])["topic_booking_state"]["cleanup.policy"] == "delete"
    report = apply_local(settings, BootstrapSettings())
    assert report.topics.reconfigured == {"topic_booking_state": {"cleanup.policy": "compact"}}
    assert topic_configs(settings, ["topic_booking_state"])["topic_booking_state"]["cleanup.policy"] == "compact"


def _topic_overrides(settings: Settings, topic: str) -> dict[str, str]:
    """The configs set on the topic itself (describe_configs source DYNAMIC_TOPIC_CONFIG)."""
    res, admin = ConfigResource(ConfigResource.Type.TOPIC, topic), make_admin(settings)
    entries = admin.describe_configs([res])[res].result()
    return {k: e.value for k, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}


def test_an_override_the_catalog_does_not_set_is_removed() -> None:
    # retention_ms set to null ("broker default") or a config key dropped from the catalog: the old
    # override stayed on the topic and the apply reported the topic unchanged.
    settings = _settings()
    name = f"test_catalog_{uuid.uuid4().hex[:8]}"
    spec = dataclasses.replace(load_catalog(settings).get("topic_clickstream"), name=name, partitions=2,
                               retention_ms=None, extra_config={"max.message.bytes": "2000000"})
    catalog = Catalog({name: spec}, Path("test"))
    with scratch_topics(settings, {name: 2}):
        stale = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in
                 {"retention.ms": "3600000", "segment.ms": "600000", "max.message.bytes": "1000000"}.items()]
        admin = make_admin(settings)
        for fut in admin.incremental_alter_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=stale)]
        ).values():
            fut.result()
        assert _topic_overrides(settings, name) == {
            "retention.ms": "3600000", "segment.ms": "600000", "max.message.bytes": "1000000"}

        report = apply_topics(settings, catalog)
        assert report.reconfigured == {name: {"retention.ms": None, "segment.ms": None,
                                              "max.message.bytes": "2000000"}}
        assert report.unchanged == []
        assert _topic_overrides(settings, name) == {"max.message.bytes": "2000000"}
        assert topic_configs(settings, [name])[name]["retention.ms"] != "3600000"  # the broker default again

        again = apply_topics(settings, catalog)
        assert again.reconfigured == {} and again.unchanged == [name] and not again.changed


def test_undeliverable_message_is_reported_not_swallowed() -> None:
    settings = _settings()
    # A topic that does not exist (auto-create is off): the broker can never acknowledge it.
    overrides: dict[str, Any] = {"message.timeout.ms": 3000}
    producer = Producer(settings, client_id="it-undeliverable", **overrides)
    producer.produce("topic_that_is_not_in_the_catalog", b"x", key="k")
    with pytest.raises(DeliveryError) as err:
        producer.flush(15)
    assert err.value.undelivered == 1 and producer.failed == 1 and producer.delivered == 0
    assert "topic_that_is_not_in_the_catalog" in str(err.value)


def test_unreachable_broker_is_reported() -> None:
    settings = Settings(profile="local", kafka_bootstrap="127.0.0.1:1")
    overrides: dict[str, Any] = {"message.timeout.ms": 2000}
    producer = Producer(settings, client_id="it-nobroker", **overrides)
    producer.produce("topic_app_logs", b"x")
    with pytest.raises(DeliveryError):
        producer.flush(10)


def test_serde_refuses_unknown_topic_before_anything_is_sent() -> None:
    with pytest.raises(UnknownTopicError):
        AvroSerde(_settings()).encode("topic_app_log", {})


def test_aws_database_bootstrap_applies_schema_and_publication_idempotently() -> None:
    import psycopg2

    from lambdas.bootstrap.apply import apply_database

    settings = Settings(profile="local")
    try:
        first = apply_database(settings, publication="it_bootstrap_pub")
        second = apply_database(settings, publication="it_bootstrap_pub")
        assert first == ["oltp schema", "publication it_bootstrap_pub"]
        assert second == ["oltp schema"]  # the publication exists now: not created twice
        with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = 'it_bootstrap_pub'")
            assert sorted(r[0] for r in cur.fetchall()) == ["bookings", "payments", "users"]
    finally:
        with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
            cur.execute("DROP PUBLICATION IF EXISTS it_bootstrap_pub")



@pytest.fixture
def scratch_topic() -> Iterator[str]:
    with scratch_topics(_settings(), {f"test_fatal_{uuid.uuid4().hex[:8]}": 2}) as (topic,):
        yield topic


@pytest.mark.parametrize("background_poll", [False, True])
def test_after_a_fatal_error_the_next_message_goes_through_a_new_client(
    scratch_topic: str, background_poll: bool
) -> None:
    """After librdkafka's fatal error (an idempotent producer out of step with a restarted broker) a
    client can never send again: what it queued fails loudly, the next messages go through a new
    client and reach the topic."""
    settings, topic = _settings(), scratch_topic
    outcomes: dict[str, str | None] = {}

    def note(err: Any, msg: Any) -> None:
        outcomes[msg.value().decode()] = None if err is None else err.str()

    overrides: dict[str, Any] = {"linger.ms": 5000}  # the first messages wait in the queue
    producer = Producer(settings, client_id="it-fatal", background_poll=background_poll, **overrides)
    try:
        for i in range(20):
            producer.produce(topic, f"before-{i}".encode(), key=str(i), on_delivery=note)
        broken = producer.raw
        inject_fatal(producer)
        assert producer.fatal is not None
        for i in range(20):
            producer.produce(topic, f"after-{i}".encode(), key=str(i), on_delivery=note)
        assert producer.raw is not broken and producer.replacements == 1 and producer.fatal is None
        with pytest.raises(DeliveryError) as err:
            producer.flush(30)
        assert err.value.undelivered == 20  # the purged ones, reported, not dropped in silence
        assert len(producer) == 0
        assert all(outcomes[f"before-{i}"] is not None for i in range(20))
        assert all(outcomes[f"after-{i}"] is None for i in range(20))
        landed = [(value or b"").decode() for _, value in read_topic(settings, topic)]
        assert sorted(landed) == sorted(f"after-{i}" for i in range(20))
    finally:
        producer.close(0) if len(producer) else producer.close()


def test_a_producer_that_opts_out_keeps_its_client_after_a_fatal_error(scratch_topic: str) -> None:
    """The CDC relay replays from its slot instead (key order): its producer must not switch by itself."""
    producer = Producer(_settings(), client_id="it-fatal-optout", replace_on_fatal=False)
    client = producer.raw
    inject_fatal(producer, "injected")
    producer.produce(scratch_topic, b"x", key="k")
    assert producer.raw is client and producer.replacements == 0 and producer.fatal == "injected"
    producer.close(15)
