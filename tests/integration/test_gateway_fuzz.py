"""Fuzzing: schemathesis generates requests (valid and invalid) from the app's own OpenAPI and sends
them through the ASGI app in-process, whose producer writes to the real local broker. ≥1,000
requests, zero 5xx; answers also conform to the documented status codes, content types and schemas.

    make fuzz-gateway
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from eventbus.settings import Settings
from lambdas.gateway.app import create_app
from lambdas.gateway.ingest import Gateway

EXAMPLES_PER_OPERATION = 200  # 6 operations -> ≥1,000 requests
MIN_REQUESTS = 1000
APP = create_app(Settings(profile="local"))  # the gateway is attached once the stack is up (fixture)
# The schema comes from the app object itself (no request, so no lifespan: collection needs no broker);
# the generated requests go to the ASGI app in-process.
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def live_gateway() -> Iterator[Gateway]:
    gw = Gateway(Settings(profile="local"))
    APP.state.gateway = gw
    yield gw
    gw.close()


@pytest.fixture(scope="module")
def sent() -> Iterator[Counter[int]]:
    """The status of each generated request, checked for the run as a whole once the module is done: at least
    MIN_REQUESTS, some accepted (200) and some refused (4xx). A short or one-sided run (-k picking a few
    operations, a schema that lost operations, strategies that only make invalid bodies) is an error at
    teardown, whatever order the tests ran in."""
    statuses: Counter[int] = Counter()
    yield statuses
    total = sum(statuses.values())
    print(f"schemathesis sent {total} requests: {dict(sorted(statuses.items()))}")
    assert total >= MIN_REQUESTS, f"only {total} generated requests (want >= {MIN_REQUESTS}): {dict(statuses)}"
    assert statuses[200] > 0, f"no generated request was accepted: {dict(statuses)}"
    assert sum(n for s, n in statuses.items() if 400 <= s < 500) > 0, f"none was refused: {dict(statuses)}"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_requests_never_get_a_5xx(case: schemathesis.Case, sent: Counter[int]) -> None:
    response = case.call_and_validate(
        headers={"x-api-key": "local-dev-key"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
    sent[response.status_code] += 1  # after the checks: a 5xx has already failed the test (not_a_server_error)
