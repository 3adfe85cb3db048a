"""AWS Glue Schema Registry client (the local emulator serves the same API).

    >>> from eventbus.registry import SchemaRegistry
    >>> reg = SchemaRegistry()
    >>> version_id = reg.register("topic_app_logs", open("schemas/app_log.avsc").read())
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eventbus import aws
from eventbus.exceptions import RegistryError
from eventbus.settings import Settings, get_settings


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# Glue checks a new version against the schema's compatibility mode asynchronously. RegisterSchemaVersion
# "has the potential to run longer than other operations due to compatibility modes. You can call the
# GetSchemaVersion API with the SchemaVersionId to check"; it, GetSchemaVersion, GetSchemaByDefinition and
# CreateSchema (SchemaVersionStatus) answer a status of AVAILABLE | PENDING | FAILURE | DELETING (AWS Glue
# API reference: https://docs.aws.amazon.com/glue/latest/webapi/API_RegisterSchemaVersion.html,
# API_GetSchemaVersion.html, API_GetSchemaByDefinition.html). Only an AVAILABLE version goes into a header:
# a PENDING one is polled until it settles, a FAILURE or DELETING one is refused.
AVAILABLE, PENDING = "AVAILABLE", "PENDING"


class SchemaRegistry:
    """Registers schema versions and resolves version ids, caching both directions."""

    def __init__(self, settings: Settings | None = None, glue: Any | None = None, *,
                 pending_wait_s: float = 60.0) -> None:
        self.settings = settings or get_settings()
        self.registry_name = self.settings.registry_name
        self._glue = glue or aws.client("glue", self.settings)
        #: how long a PENDING version (Glue's compatibility check still running) is polled for
        self.pending_wait_s = pending_wait_s
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
            except ClientError as exc:
                if _code(exc) != "EntityNotFoundException":
                    raise RegistryError(f"looking up {schema_name}: {exc}") from exc
                version_id = self._create(schema_name, schema_id, definition, compatibility)
            else:  # registered before (by an earlier run, or another producer a moment ago): maybe not usable
                version_id = str(found["SchemaVersionId"])
                self._settle(schema_name, version_id, found.get("Status"))
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
        except ClientError as exc:
            if _code(exc) == "EntityNotFoundException":  # the registry itself is missing
                self.ensure_registry()
                return self._create(schema_name, schema_id, definition, compatibility)
            if _code(exc) != "AlreadyExistsException":
                raise RegistryError(f"create_schema {schema_name}: {exc}") from exc
        else:
            version_id = str(created["SchemaVersionId"])
            self._settle(schema_name, version_id, created.get("SchemaVersionStatus"))
            return version_id
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
        version_id = str(version["SchemaVersionId"])
        self._settle(schema_name, version_id, version.get("Status"))
        return version_id

    def _settle(self, schema_name: str, version_id: str, status: str | None) -> None:
        """Return once ``version_id`` is AVAILABLE; one ``RegistryError`` for FAILURE, DELETING or a check
        still PENDING after ``pending_wait_s``. (No status at all — an emulator — counts as AVAILABLE.)"""
        deadline = time.monotonic() + self.pending_wait_s
        pause = 0.1
        while status == PENDING:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RegistryError(
                    f"version {version_id} of schema {schema_name} in registry {self.registry_name} is still "
                    f"PENDING after {self.pending_wait_s:g} s (Glue's compatibility check has not finished) "
                    "— retry later; `aws glue get-schema-version --schema-version-id "
                    f"{version_id}` shows its status"
                )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 2.0)
            try:
                got = self._call("get_schema_version", self._glue.get_schema_version, SchemaVersionId=version_id)
            except ClientError as exc:
                raise RegistryError(f"polling version {version_id} of schema {schema_name}: {exc}") from exc
            status = got.get("Status")
        if status in (None, AVAILABLE):
            return
        if status == "FAILURE":
            raise RegistryError(
                f"Glue failed version {version_id} of schema {schema_name} in registry {self.registry_name}: "
                "the definition does not pass the schema's compatibility check, so no record may name it — "
                "make the change BACKWARD compatible (`python -m eventbus.compat` checks it), or delete the "
                f"failed version (`aws glue delete-schema-versions --schema-id SchemaName={schema_name},"
                f"RegistryName={self.registry_name} --versions <its number>`) before registering it again"
            )
        raise RegistryError(
            f"version {version_id} of schema {schema_name} in registry {self.registry_name} is {status}, not "
            "AVAILABLE — if it is being deleted, register the definition again once the deletion has finished"
        )

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
