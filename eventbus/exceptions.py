"""Every exception the shared library raises. Messages say what happened and what to do."""

from __future__ import annotations


def local_hint(address: str) -> str:
    """The fix to append to a connection error when ``address`` is the local stack's."""
    return " — run `make local-up`" if address.startswith(("127.", "localhost")) else ""


class EventBusError(Exception):
    """Base class of the library's errors."""


class ConfigurationError(EventBusError):
    """Settings or a catalog file are invalid."""


class SettingsError(ConfigurationError, ValueError):
    """A setting (an ``EB_*`` environment variable, ``.env``, or a keyword) that its model refuses."""


class UnknownTopicError(EventBusError, KeyError):
    """A topic name that the catalog does not hold."""

    def __init__(self, topic: str, known: list[str]) -> None:
        self.topic = topic
        super().__init__(f"unknown topic {topic!r}: the catalog (schemas/topics.yaml) has {', '.join(known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class SchemaValidationError(EventBusError, ValueError):
    """A record does not match its Avro schema; ``field`` names the offending field path."""

    def __init__(self, schema_name: str, field: str | None, detail: str) -> None:
        self.schema_name = schema_name
        self.field = field
        self.detail = detail
        where = f"field {field!r}" if field else "record"
        super().__init__(f"{schema_name}: {where} does not match the schema: {detail}")


class SerdeError(EventBusError, ValueError):
    """Every failure of ``AvroSerde.decode``: bytes that are not a Glue-wire-format Avro record, a corrupt
    compressed body, a body its writer schema does not read exactly (bytes left over), or a schema version
    the registry lacks (``WriterSchemaError``)."""


class RegistryError(EventBusError):
    """The schema registry refused or could not be reached."""


class WriterSchemaError(SerdeError, RegistryError):
    """``decode`` could not get a record's writer schema from the registry (unknown version id, registry
    unreachable, or a definition that does not parse). A ``SerdeError`` like every decode failure, and a
    ``RegistryError`` too, so a caller can still tell a registry outage from a bad record; the registry's
    own error is ``__cause__``."""


class DeliveryError(EventBusError):
    """Messages the broker did not acknowledge. Loss is loud: ``flush()`` raises this."""

    def __init__(self, undelivered: int, errors: list[str], still_queued: int = 0) -> None:
        self.undelivered = undelivered
        self.errors = errors
        #: Of ``undelivered``: still queued when the flush deadline passed (the rest failed with a report).
        self.still_queued = still_queued
        sample = "; ".join(errors[:3]) or "still queued when the flush deadline passed"
        super().__init__(f"{undelivered} message(s) not acknowledged by the broker: {sample}")


class BrokerUnavailableError(EventBusError):
    """The broker cannot be reached."""

    def __init__(self, bootstrap: str, detail: str = "") -> None:
        super().__init__(f"broker at {bootstrap} unreachable{local_hint(bootstrap)}{': ' + detail if detail else ''}")
