"""Admin factory and the idempotent "apply catalog" for topics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from eventbus.catalog import SERVERLESS_CONFIGS, Catalog, load_catalog
from eventbus.exceptions import BrokerUnavailableError
from eventbus.kafka.config import client_config
from eventbus.logging import get_logger
from eventbus.settings import Settings, get_settings

log = get_logger("eventbus.admin")


def make_admin(settings: Settings | None = None, **overrides: Any) -> AdminClient:
    settings = settings or get_settings()
    conf = client_config(settings, overrides.pop("client_id", "eventbus-admin"))
    conf.update(overrides)
    return AdminClient(conf)


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    #: topic -> {config: new value}; None = the topic's override removed (the broker default applies)
    reconfigured: dict[str, dict[str, str | None]] = field(default_factory=dict)
    repartitioned: dict[str, int] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reconfigured or self.repartitioned)


#: describe_configs' source of a config set on the topic itself (Kafka's DYNAMIC_TOPIC_CONFIG)
_TOPIC_OVERRIDE = ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def _value(entry: Any) -> str | None:
    return None if entry is None else entry.value


def _topic_metadata(admin: AdminClient, bootstrap: str, timeout: float) -> dict[str, Any]:
    try:
        return admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise BrokerUnavailableError(bootstrap, str(exc)) from exc


def apply_topics(
    settings: Settings | None = None, catalog: Catalog | None = None, timeout: float = 30.0
) -> ApplyReport:
    """Create missing topics, raise partition counts, set drifted configs and remove topic-level overrides
    the catalog does not set (a key dropped from it, or ``retention_ms: null``). Idempotent."""
    settings = settings or get_settings()
    catalog = catalog or load_catalog(settings)
    admin = make_admin(settings)
    report = ApplyReport()
    serverless = settings.kafka_serverless
    existing = _topic_metadata(admin, settings.kafka_bootstrap, timeout)

    missing = [spec for spec in catalog if spec.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(s.name, s.partitions, replication_factor=s.replication_factor, config=s.config_for(serverless))
                for s in missing
            ],
            operation_timeout=timeout,
        )
        for name, fut in futures.items():
            fut.result()
            report.created.append(name)
            log.info("topic created", extra={"topic": name})

    present = [spec for spec in catalog if spec.name in existing]
    grow = {
        s.name: s.partitions for s in present if len(existing[s.name].partitions) < s.partitions
    }
    for s in present:
        have = len(existing[s.name].partitions)
        if have > s.partitions:
            report.warnings.append(
                f"{s.name} has {have} partitions, catalog says {s.partitions} (Kafka cannot shrink a topic)"
            )
    if grow:
        for fut in admin.create_partitions(
            [NewPartitions(n, c) for n, c in grow.items()], operation_timeout=timeout
        ).values():
            fut.result()
        report.repartitioned.update(grow)

    if present:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in present]
        described = {r.name: f.result() for r, f in admin.describe_configs(resources).items()}
        to_alter = []
        for s in present:
            want = s.config_for(serverless)
            current = described[s.name]
            changes: dict[str, str | None] = {k: v for k, v in want.items() if _value(current.get(k)) != v}
            # The catalog is the one place for topic config: an override it does not set is removed. (On MSK
            # Serverless only the keys a topic may set at all: the service manages the rest.)
            changes.update({
                k: None for k, e in current.items()
                if e.source == _TOPIC_OVERRIDE and k not in want and (not serverless or k in SERVERLESS_CONFIGS)
            })
            if changes:
                entries = [
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) if v is not None
                    else ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k, v in changes.items()
                ]
                to_alter.append(ConfigResource(ConfigResource.Type.TOPIC, s.name, incremental_configs=entries))
                report.reconfigured[s.name] = changes
            elif s.name not in grow:
                report.unchanged.append(s.name)
        if to_alter:
            for _res, fut in admin.incremental_alter_configs(to_alter).items():
                fut.result()
    for w in report.warnings:
        log.warning(w)
    return report


def topic_configs(settings: Settings, topics: list[str]) -> dict[str, dict[str, str]]:
    """Current configs of ``topics`` as plain dicts."""
    admin = make_admin(settings)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    return {
        r.name: {k: v.value for k, v in f.result().items()} for r, f in admin.describe_configs(resources).items()
    }


def describe_topics(settings: Settings | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Each catalog topic: present?, partitions, messages (sum of high - low watermarks)."""
    from confluent_kafka import TopicPartition

    from eventbus.kafka.consumer import make_consumer

    settings = settings or get_settings()
    catalog = load_catalog(settings)
    existing = _topic_metadata(make_admin(settings), settings.kafka_bootstrap, timeout)
    consumer = make_consumer(settings, group_id="eventbus-status")
    rows = []
    try:
        for spec in catalog:
            meta = existing.get(spec.name)
            if meta is None:
                rows.append({"topic": spec.name, "present": False, "partitions": 0, "messages": 0})
                continue
            total = 0
            for pid in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(spec.name, pid), timeout=timeout)
                total += high - low
            rows.append(
                {
                    "topic": spec.name,
                    "present": True,
                    "partitions": len(meta.partitions),
                    "expected_partitions": spec.partitions,
                    "messages": total,
                    "cleanup_policy": spec.cleanup_policy,
                }
            )
    finally:
        consumer.close()
    return rows
