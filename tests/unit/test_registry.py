"""The registry client on Glue's asynchronous compatibility check (PENDING -> AVAILABLE | FAILURE).

moto answers AVAILABLE at once, so these script Glue's answers with botocore's Stubber: a real boto3 Glue
client whose responses are checked against the service model (field names and status values included).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from eventbus.exceptions import RegistryError
from eventbus.registry import SchemaRegistry
from eventbus.settings import Settings

DEFINITION = '{"type": "record", "name": "T", "fields": [{"name": "a", "type": "string"}]}'
SCHEMA = "topic_t"


@pytest.fixture
def glue(settings: Settings) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("glue", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub


def _registry(settings: Settings, client: Any, wait_s: float = 10.0) -> SchemaRegistry:
    return SchemaRegistry(settings, glue=client, pending_wait_s=wait_s)


def _new_version_registered(stub: Stubber, version_id: str, status: str) -> None:
    """get_schema_by_definition: unknown; create_schema: the schema exists; register_schema_version: ``status``."""
    stub.add_client_error("get_schema_by_definition", "EntityNotFoundException")
    stub.add_client_error("create_schema", "AlreadyExistsException")
    stub.add_response("register_schema_version",
                      {"SchemaVersionId": version_id, "VersionNumber": 2, "Status": status},
                      {"SchemaId": {"RegistryName": "unit-test-registry", "SchemaName": SCHEMA},
                       "SchemaDefinition": DEFINITION})


def _polled(stub: Stubber, version_id: str, status: str) -> None:
    stub.add_response("get_schema_version", {"SchemaVersionId": version_id, "Status": status},
                      {"SchemaVersionId": version_id})


def test_a_pending_version_is_polled_until_available(settings: Settings, glue: tuple[Any, Stubber]) -> None:
    client, stub = glue
    vid = str(uuid.uuid4())
    _new_version_registered(stub, vid, "PENDING")
    _polled(stub, vid, "PENDING")
    _polled(stub, vid, "AVAILABLE")
    reg = _registry(settings, client)
    assert reg.register(SCHEMA, DEFINITION) == uuid.UUID(vid)
    stub.assert_no_pending_responses()  # it asked until Glue said AVAILABLE
    assert reg.register(SCHEMA, DEFINITION) == uuid.UUID(vid)  # cached: no further call (the stub would refuse)


def test_a_version_glue_fails_later_is_one_error_and_not_cached(
    settings: Settings, glue: tuple[Any, Stubber]
) -> None:
    client, stub = glue
    vid = str(uuid.uuid4())
    _new_version_registered(stub, vid, "PENDING")
    _polled(stub, vid, "FAILURE")
    reg = _registry(settings, client)
    with pytest.raises(RegistryError, match=f"Glue failed version {vid} of schema {SCHEMA}.*compatib") as err:
        reg.register(SCHEMA, DEFINITION)
    assert "delete-schema-versions" in str(err.value)
    # Not cached: the next attempt asks Glue again (which now finds the failed version by its definition).
    stub.add_response("get_schema_by_definition", {"SchemaVersionId": vid, "Status": "FAILURE"})
    with pytest.raises(RegistryError, match="Glue failed"):
        reg.register(SCHEMA, DEFINITION)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("status", ["FAILURE", "DELETING"])
def test_a_version_found_by_definition_is_used_only_when_available(
    settings: Settings, glue: tuple[Any, Stubber], status: str
) -> None:
    client, stub = glue
    vid = str(uuid.uuid4())
    stub.add_response("get_schema_by_definition", {"SchemaVersionId": vid, "Status": status})
    with pytest.raises(RegistryError, match=f"{vid} of schema {SCHEMA}"):
        _registry(settings, client).register(SCHEMA, DEFINITION)


def test_a_version_found_pending_by_definition_is_waited_for(settings: Settings, glue: tuple[Any, Stubber]) -> None:
    client, stub = glue
    vid = str(uuid.uuid4())
    stub.add_response("get_schema_by_definition", {"SchemaVersionId": vid, "Status": "PENDING"})
    _polled(stub, vid, "AVAILABLE")
    assert _registry(settings, client).register(SCHEMA, DEFINITION) == uuid.UUID(vid)
    stub.assert_no_pending_responses()


def test_a_version_still_pending_at_the_deadline_is_one_error(settings: Settings, glue: tuple[Any, Stubber]) -> None:
    client, stub = glue
    vid = str(uuid.uuid4())
    _new_version_registered(stub, vid, "PENDING")
    for _ in range(20):
        _polled(stub, vid, "PENDING")
    with pytest.raises(RegistryError, match=f"{vid} of schema {SCHEMA} .* still PENDING after 0.4 s"):
        _registry(settings, client, wait_s=0.4).register(SCHEMA, DEFINITION)

