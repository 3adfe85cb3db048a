"""`make tf-check` as part of `make test`: each step of infra/scripts/tf_check.py is one test.

A step whose tool is missing on this machine is SKIPPED with the reason (shown in pytest's summary),
never passed silently: no terraform, no local provider mirror, or no way to install checkov.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.support.infra import infra_script

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tf_check() -> ModuleType:
    return infra_script("tf_check")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tf-check")


def _require(tf_check: ModuleType, provider: bool = False) -> tuple[str, Path | None]:
    tf = tf_check.find_terraform()
    if tf is None:
        pytest.skip("terraform not installed: fmt/validate/plan not checked (install Terraform >= 1.11)")
    plugin_dir = tf_check.find_plugin_dir()
    if provider and plugin_dir is None:
        pytest.skip(
            "no local hashicorp/aws provider mirror (/opt/tf-plugins or $TF_PLUGIN_DIR): "
            "validate/plan not checked on this machine"
        )
    return tf, plugin_dir


def _assert_pass(step) -> None:
    assert step.status == "PASS", f"{step.name}: {step.status}\n" + "\n".join(step.detail)


def test_fmt(tf_check: ModuleType) -> None:
    tf, _ = _require(tf_check)
    _assert_pass(tf_check.step_fmt(tf))


def test_validate_root_and_examples(tf_check: ModuleType, scratch: Path) -> None:
    tf, plugin_dir = _require(tf_check, provider=True)
    step = tf_check.step_validate(tf, plugin_dir, scratch)
    _assert_pass(step)
    assert step.metrics["roots"] >= 3  # root + the examples


def test_offline_plan_plans_every_resource_and_holds_invariants(tf_check: ModuleType, scratch: Path) -> None:
    tf, plugin_dir = _require(tf_check, provider=True)
    step = tf_check.step_plan(tf, plugin_dir, scratch)
    _assert_pass(step)
    assert step.metrics["resource_blocks_unplanned"] == 0
    assert step.metrics["resources[root:defaults]"] > 150


def test_checkov_zero_failed(tf_check: ModuleType) -> None:
    import argparse

    step = tf_check.step_checkov(argparse.Namespace(no_install=False))
    if step.status == "SKIP":
        pytest.skip("checkov unavailable: " + "; ".join(step.detail))
    _assert_pass(step)
    assert step.metrics["failed"] == 0 and step.metrics["passed"] > 0


def test_module_readmes_are_current(tf_check: ModuleType) -> None:
    _assert_pass(tf_check.step_docs())
