"""The console's connections, all through the shared library, every one bounded in time.

One consumer factory (``eventbus.kafka.consumer.make_consumer``), one admin (``eventbus.kafka.admin``),
one serde (``eventbus.serde.AvroSerde``) whose registry client answers within the console's deadline.
The console only reads: it never creates a producer and never commits an offset.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import confluent_kafka
from botocore.config import Config

from eventbus import aws
from eventbus.catalog import Catalog, load_catalog
from eventbus.exceptions import BrokerUnavailableError, RegistryError, UnknownTopicError
from eventbus.kafka.admin import make_admin
from eventbus.kafka.consumer import make_consumer
from eventbus.registry import SchemaRegistry
from eventbus.serde import AvroSerde
from eventbus.settings import Settings, get_settings
from local.console.config import ConsoleSettings
from local.console.exceptions import DependencyError, NotFoundError


class Clients:
    """Settings, catalog, serde and factories shared by the API routes and ``peek``."""

    def __init__(self, settings: Settings | None = None, console: ConsoleSettings | None = None) -> None:
        self.settings = settings or get_settings()
        self.console = console or ConsoleSettings()
        self.catalog: Catalog = load_catalog(self.settings)
        self._glue = self._glue_client()
        self.serde = AvroSerde(self.settings, registry=SchemaRegistry(self.settings, glue=self._glue),
                               catalog=self.catalog)
        self._versions: dict[uuid.UUID, int] = {}
        self._lock = threading.Lock()
        self._admin: Any = None

    def _glue_client(self) -> Any:
        # Short timeouts and one attempt: a registry that does not answer is reported within the request's
        # deadline instead of after botocore's retries.
        timeout = self.console.timeout_s
        return aws.client("glue", self.settings,
                          config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}))

    # -- catalog ------------------------------------------------------------------------------
    def topic(self, name: str) -> Any:
        try:
            return self.catalog.get(name)
        except UnknownTopicError as exc:
            raise NotFoundError(str(exc)) from None

    # -- kafka ---------------------------------------------------------------------------------
    def consumer(self, purpose: str) -> confluent_kafka.Consumer:
        """A consumer for ``assign()``-style reads: no group membership, no commits, EOF events on."""
        try:
            return make_consumer(
                self.settings,
                group_id=f"eventbus-console-{purpose}",
                **{"enable.partition.eof": True, "enable.auto.offset.store": False, "fetch.wait.max.ms": 20,
                   "socket.timeout.ms": max(1000, int(self.console.timeout_s * 1000))},
            )
        except (confluent_kafka.KafkaException, SystemError) as exc:  # e.g. no MSK IAM token: no credentials
            cause = exc.__cause__ or exc.__context__ or exc
            hint = (" — the aws profile signs MSK IAM tokens with the AWS credentials of this machine"
                    if self.settings.kafka_auth == "iam" else "")
            raise DependencyError(f"cannot create a Kafka client for {self.settings.kafka_bootstrap}: {cause}{hint}"
                                  ) from exc

    def admin(self) -> Any:
        with self._lock:
            if self._admin is None:
                try:
                    self._admin = make_admin(self.settings, client_id="eventbus-console")
                except (confluent_kafka.KafkaException, SystemError) as exc:
                    raise DependencyError(f"cannot create a Kafka admin client for {self.settings.kafka_bootstrap}: "
                                          f"{exc.__cause__ or exc.__context__ or exc}") from exc
            return self._admin

    def broker_error(self, exc: BaseException) -> DependencyError:
        err = BrokerUnavailableError(self.settings.kafka_bootstrap, str(exc))
        return DependencyError(f"{err} (no answer within {self.console.timeout_s:.0f}s)")

    # -- registry -------------------------------------------------------------------------------
    def decode(self, data: bytes, topic: str) -> tuple[dict[str, Any], uuid.UUID]:
        """(record, schema version id); ``RegistryError`` becomes ``DependencyError``."""
        try:
            record = self.serde.decode(data, topic)
        except RegistryError as exc:
            raise DependencyError(str(exc)) from exc
        return record, uuid.UUID(bytes=bytes(data[2:18]))

    def version_number(self, version_id: uuid.UUID) -> int | None:
        """The registry's version number of a schema version id (cached; None when unknown)."""
        if version_id not in self._versions:
            try:
                got = self._glue.get_schema_version(SchemaVersionId=str(version_id))
                self._versions[version_id] = int(got["VersionNumber"])
            except Exception:
                return None
        return self._versions[version_id]
