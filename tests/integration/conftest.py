"""Integration tests run against the real local engines (Kafka, PostgreSQL, the AWS emulator).

The session fixture ``stack`` starts the local stack when it is not running and stops it at the end
if this session started it (and no other test session on the machine still uses it). A stack started
with `make local-up` is left running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Collection hooks see every item of the run: mark only the ones under tests/integration.
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the Terraform apply/replan/destroy cycle now when its test is in this run (it then overlaps the
    tests before it; tests.support.infra.TfCycle) and Terraform with its provider mirror is here."""
    from tests.support.infra import TF_CYCLE, infra_script

    if not any(item.nodeid.endswith("test_infra_tf_apply.py::test_apply_replan_destroy_on_the_emulator")
               for item in session.items):
        return
    runner = infra_script("plan_runner")
    if runner.find_terraform() is not None and runner.find_plugin_dir() is not None:
        TF_CYCLE.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.support.infra import TF_CYCLE

    TF_CYCLE.stop()


@pytest.fixture(scope="session", autouse=True)
def stack() -> Iterator[ModuleType]:
    """The ``local.stack`` module, with the stack up for the whole session."""
    # The emulator takes any credentials; boto3 only needs some to sign with.
    for key, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)
    from local.stack import control as local_stack

    with local_stack.session():
        yield local_stack
