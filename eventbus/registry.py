"""AWS Glue Schema Registry client (the local emulator serves the same API).

    >>> from eventbus.registry import SchemaRegistry
    >>> reg = SchemaRegistry()
    >>> version_id = reg.register("topic_app_logs", open("schemas/app_log.avsc").read())
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eventbus import aws
from eventbus.exceptions import RegistryError
from eventbus.settings import Settings, get_settings


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class SchemaRegistry:
    """Registers schema versions and resolves version ids, caching both directions."""

    def __init__(self, settings: Settings | None = None, glue: Any | None = None) -> None:
        self.settings = settings or get_settings()
        self.registry_name = self.settings.registry_name
        self._glue = glue or aws.client("glue", self.settings)
        self._definitions: dict[uuid.UUID, str] = {}
        self._ids: dict[tuple[str, str], uuid.UUID] = {}
        self._lock = threading.Lock()

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ClientError:
            raise
        except BotoCoreError as exc:
            hint = " — run `make local-up`" if self.settings.profile == "local" else ""
            raise RegistryError(f"schema registry unreachable during {what}: {exc}{hint}") from exc

    def ensure_registry(self) -> None:
        try:
            self._call("get_registry", self._glue.get_registry, RegistryId={"RegistryName": self.registry_name})
        except ClientError as exc:
            if _code(exc) != "EntityNotFoundException":
                raise RegistryError(f"get_registry {self.registry_name}: {exc}") from exc
            try:
                self._call(
                    "create_registry",
                    self._glue.create_registry,
                    RegistryName=self.registry_name,
                    Description="Avro schemas of the travel data sources layer",
                )
            except ClientError as exc2:
                if _code(exc2) != "AlreadyExistsException":
                    raise RegistryError(f"create_registry {self.registry_name}: {exc2}") from exc2

    def register(self, schema_name: str, definition: str, compatibility: str = "BACKWARD") -> uuid.UUID:
        """Return the version id of ``definition`` under ``schema_name``, registering it if new."""
        cache_key = (schema_name, definition)
        if cache_key in self._ids:
            return self._ids[cache_key]
        schema_id = {"RegistryName": self.registry_name, "SchemaName": schema_name}
        with self._lock:
            try:
                found = self._call(
                    "get_schema_by_definition",
                    self._glue.get_schema_by_definition,
                    SchemaId=schema_id,
                    SchemaDefinition=definition,
                )
                version_id = found["SchemaVersionId"]
            except ClientError as exc:
                if _code(exc) != "EntityNotFoundException":
                    raise RegistryError(f"looking up {schema_name}: {exc}") from exc
                version_id = self._create(schema_name, schema_id, definition, compatibility)
            vid = uuid.UUID(version_id)
            self._ids[cache_key] = vid
            self._definitions[vid] = definition
            return vid

    def _create(self, schema_name: str, schema_id: dict[str, str], definition: str, compatibility: str) -> str:
        try:
            created = self._call(
                "create_schema",
                self._glue.create_schema,
                RegistryId={"RegistryName": self.registry_name},
                SchemaName=schema_name,
                DataFormat="AVRO",
                Compatibility=compatibility,
                SchemaDefinition=definition,
            )
            return str(created["SchemaVersionId"])
        except ClientError as exc:
            if _code(exc) == "EntityNotFoundException":  # the registry itself is missing
                self.ensure_registry()
                return self._create(schema_name, schema_id, definition, compatibility)
            if _code(exc) != "AlreadyExistsException":
                raise RegistryError(f"create_schema {schema_name}: {exc}") from exc
        try:
            version = self._call(
                "register_schema_version",
                self._glue.register_schema_version,
                SchemaId=schema_id,
                SchemaDefinition=definition,
            )
        except ClientError as exc:
            raise RegistryError(
                f"registering a new version of {schema_name} was refused (incompatible change?): {exc}"
            ) from exc
        if version.get("Status") == "FAILURE":
            raise RegistryError(f"registry refused the new version of {schema_name} (compatibility)")
        return str(version["SchemaVersionId"])

    def definition(self, version_id: uuid.UUID) -> str:
        """The schema text of a version id (from the cache, else from the registry)."""
        cached = self._definitions.get(version_id)
        if cached is not None:
            return cached
        try:
            got = self._call(
                "get_schema_version", self._glue.get_schema_version, SchemaVersionId=str(version_id)
            )
        except ClientError as exc:
            raise RegistryError(f"schema version {version_id} not found in {self.registry_name}: {exc}") from exc
        self._definitions[version_id] = got["SchemaDefinition"]
        return str(got["SchemaDefinition"])
