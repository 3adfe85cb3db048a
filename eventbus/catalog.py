"""The topic catalog: ``schemas/topics.yaml`` and the Avro schemas beside it, loaded and parsed once.

    >>> from eventbus.catalog import load_catalog
    >>> cat = load_catalog()
    >>> cat.get("topic_user_state").cleanup_policy
    'compact'
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import fastavro
import yaml

from eventbus.exceptions import ConfigurationError, UnknownTopicError
from eventbus.settings import Settings, get_settings

_POLICIES = {"delete", "compact", "compact,delete"}
#: The topic-level configs MSK Serverless accepts; other catalog keys are tuning it does not allow.
SERVERLESS_CONFIGS = frozenset(
    {"cleanup.policy", "compression.type", "max.message.bytes", "message.timestamp.difference.max.ms",
     "message.timestamp.type", "retention.bytes", "retention.ms"}
)


@dataclass(frozen=True)
class Publication:
    """The PostgreSQL publication a CDC topic is fed from (catalog key ``publication``)."""

    name: str
    tables: tuple[str, ...]  # schema-qualified


#: ``event_time.trusted`` value meaning the Kafka record's own timestamp rather than a schema field.
KAFKA_TIMESTAMP = "kafka_timestamp"


@dataclass(frozen=True)
class EventTime:
    """How a topic's event time is trusted (catalog key ``event_time``).

    Effective event time = ``least(field, trusted + max_future_skew_s)``: a client clock ahead of the
    trusted one is clamped, a late one is left alone (the watermark decides). Producers that own the
    trusted clock (the gateway) refuse ``field`` values beyond the skew.

        >>> et = EventTime("event_ts", "received_ts", 300)
        >>> et.effective_ms(event_ms=2_000_000, trusted_ms=1_000_000)
        1300000
    """

    field: str
    trusted: str  # a schema field, or KAFKA_TIMESTAMP
    max_future_skew_s: int

    @property
    def max_future_skew_ms(self) -> int:
        return self.max_future_skew_s * 1000

    def effective_ms(self, event_ms: int, trusted_ms: int) -> int:
        return min(event_ms, trusted_ms + self.max_future_skew_ms)


@dataclass(frozen=True)
class TopicSpec:
    """One catalog entry."""

    name: str
    partitions: int
    cleanup_policy: str
    retention_ms: int | None
    key: str
    schema_file: Path
    replication_factor: int
    extra_config: dict[str, str] = field(default_factory=dict)
    publication: Publication | None = None
    #: Components that produce to / consume from the topic (catalog keys ``writers`` / ``readers``).
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()
    #: How the event time is trusted (None: the topic has no client event time).
    event_time: EventTime | None = None
    #: The field each record is counted once by (de-duplication key), if any.
    dedup_key: str | None = None

    @property
    def config(self) -> dict[str, str]:
        """The topic configs the catalog owns (what `apply catalog` sets and checks)."""
        cfg = dict(self.extra_config)
        cfg["cleanup.policy"] = self.cleanup_policy
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg

    def config_for(self, serverless: bool) -> dict[str, str]:
        """``config``, restricted to what MSK Serverless accepts when ``serverless``."""
        cfg = self.config
        return {k: v for k, v in cfg.items() if k in SERVERLESS_CONFIGS} if serverless else cfg

    @cached_property
    def schema_text(self) -> str:
        return self.schema_file.read_text()

    @cached_property
    def schema(self) -> dict[str, Any]:
        """The parsed (fastavro) schema, parsed once per process."""
        parsed: dict[str, Any] = fastavro.parse_schema(json.loads(self.schema_text))  # type: ignore[assignment]
        return parsed

    @property
    def schema_name(self) -> str:
        """Registry schema name: the topic's name (one schema per topic, like TopicNameStrategy)."""
        return self.name


@dataclass(frozen=True)
class Component:
    """A deployable that touches topics (catalog section ``components``)."""

    name: str
    code: str  # repository-relative folder of its code
    groups: str | None = None  # prefix of the consumer groups it reads with


class Catalog:
    def __init__(
        self, topics: dict[str, TopicSpec], path: Path, components: dict[str, Component] | None = None
    ) -> None:
        self.topics = topics
        self.path = path
        self.components = components or {}

    def written_by(self, component: str) -> list[str]:
        """Topics the catalog lets ``component`` produce to."""
        return [t.name for t in self.topics.values() if component in t.writers]

    def read_by(self, component: str) -> list[str]:
        """Topics the catalog lets ``component`` consume."""
        return [t.name for t in self.topics.values() if component in t.readers]

    def get(self, topic: str) -> TopicSpec:
        try:
            return self.topics[topic]
        except KeyError:
            raise UnknownTopicError(topic, sorted(self.topics)) from None

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(self.topics.values())

    def __len__(self) -> int:
        return len(self.topics)

    def names(self) -> list[str]:
        return list(self.topics)


def parse_catalog(path: Path, replication_factor: int | None = None) -> Catalog:
    """Read and validate a catalog file. Errors name the topic and key."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read topic catalog {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("topics"), dict):
        raise ConfigurationError(f"{path}: expected a mapping with a 'topics' key")
    defaults = raw.get("defaults") or {}
    rf = replication_factor if replication_factor is not None else int(defaults.get("replication_factor", 1))
    default_cfg = {str(k): str(v) for k, v in (defaults.get("config") or {}).items()}
    components = _components(raw.get("components"), path)
    topics: dict[str, TopicSpec] = {}
    for name, entry in raw["topics"].items():
        where = f"{path}: topic {name!r}"
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{where}: expected a mapping")
        missing = {"partitions", "cleanup_policy", "key", "schema"} - set(entry)
        if missing:
            raise ConfigurationError(f"{where}: missing key(s) {', '.join(sorted(missing))}")
        if not isinstance(entry["partitions"], int) or entry["partitions"] < 1:
            raise ConfigurationError(f"{where}: 'partitions' must be a positive integer")
        if entry["cleanup_policy"] not in _POLICIES:
            raise ConfigurationError(f"{where}: 'cleanup_policy' must be one of {sorted(_POLICIES)}")
        retention = entry.get("retention_ms")
        if retention is not None and (not isinstance(retention, int) or retention < -1):
            raise ConfigurationError(f"{where}: 'retention_ms' must be an integer or null")
        schema_file = path.parent / entry["schema"]
        if not schema_file.is_file():
            raise ConfigurationError(f"{where}: schema file {schema_file} does not exist")
        cfg = {**default_cfg, **{str(k): str(v) for k, v in (entry.get("config") or {}).items()}}
        publication = _publication(entry.get("publication"), where)
        fields = _field_names(schema_file)
        event_time = _event_time(entry.get("event_time"), where, fields)
        dedup_key = entry.get("dedup_key")
        if dedup_key is not None and dedup_key not in fields:
            raise ConfigurationError(f"{where}: dedup_key {dedup_key!r} is not a field of {schema_file.name}")
        topics[name] = TopicSpec(
            name=name,
            partitions=entry["partitions"],
            cleanup_policy=entry["cleanup_policy"],
            retention_ms=retention,
            key=str(entry["key"]),
            schema_file=schema_file,
            replication_factor=rf,
            extra_config=cfg,
            publication=publication,
            writers=_names(entry, "writers", where, components),
            readers=_names(entry, "readers", where, components),
            event_time=event_time,
            dedup_key=dedup_key,
        )
    return Catalog(topics, path, components)


def _components(raw: Any, path: Path) -> dict[str, Component]:
    if raw is None:
        return {}
    ok = isinstance(raw, dict) and all(isinstance(v, dict) and isinstance(v.get("code"), str) for v in raw.values())
    if not ok:
        raise ConfigurationError(f"{path}: 'components' must map each name to {{code: <folder>, groups: <prefix>}}")
    return {str(k): Component(str(k), v["code"], v.get("groups")) for k, v in raw.items()}


def _names(entry: dict[str, Any], key: str, where: str, components: dict[str, Component]) -> tuple[str, ...]:
    names = entry.get(key) or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(f"{where}: '{key}' must be a list of component names")
    unknown = sorted(set(names) - set(components))
    if unknown:
        raise ConfigurationError(
            f"{where}: {key} {', '.join(unknown)} not declared under 'components' "
            f"(known: {', '.join(sorted(components))})"
        )
    return tuple(names)


def _field_names(schema_file: Path) -> set[str]:
    try:
        return {f["name"] for f in json.loads(schema_file.read_text()).get("fields", [])}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return set()  # an unreadable schema fails later, where it is parsed


def _event_time(raw: Any, where: str, fields: set[str]) -> EventTime | None:
    if raw is None:
        return None
    shape = f"{where}: 'event_time' must be {{field: <timestamp field>, trusted: <field>|{KAFKA_TIMESTAMP}, " \
            "max_future_skew_s: <seconds>}"
    if not isinstance(raw, dict) or set(raw) != {"field", "trusted", "max_future_skew_s"}:
        raise ConfigurationError(shape)
    skew = raw["max_future_skew_s"]
    if not isinstance(skew, int) or isinstance(skew, bool) or skew < 0:
        raise ConfigurationError(f"{shape}; max_future_skew_s must be a non-negative integer")
    for key in ("field", "trusted"):
        name = raw[key]
        if not isinstance(name, str) or (name not in fields and not (key == "trusted" and name == KAFKA_TIMESTAMP)):
            raise ConfigurationError(f"{where}: event_time.{key} {name!r} is not a field of the topic's schema")
    return EventTime(raw["field"], raw["trusted"], skew)


def _publication(raw: Any, where: str) -> Publication | None:
    if raw is None:
        return None
    tables = raw.get("tables") if isinstance(raw, dict) else None
    if not isinstance(raw.get("name") if isinstance(raw, dict) else None, str) or not isinstance(tables, list) \
            or not tables or not all(isinstance(t, str) and "." in t for t in tables):
        raise ConfigurationError(f"{where}: 'publication' must be {{name: ..., tables: [schema.table, ...]}}")
    return Publication(raw["name"], tuple(tables))


@lru_cache(maxsize=8)
def _cached(path: Path, replication_factor: int | None) -> Catalog:
    return parse_catalog(path, replication_factor)


def load_catalog(settings: Settings | None = None) -> Catalog:
    """The catalog named by the settings, loaded once per process.

    In the aws profile the replication factor is -1: MSK's own default (3; fixed on MSK Serverless).
    """
    settings = settings or get_settings()
    return _cached(Path(settings.catalog_path).resolve(), -1 if settings.profile == "aws" else None)
