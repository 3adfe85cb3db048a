"""`make tf-apply-local` as part of `make test`: the whole of infra/ applied to a private AWS emulator, the
applied layer checked, a re-plan with no real change, a destroy that leaves nothing (the same code path:
infra/scripts/tf_apply_local.py). Its own emulator on a free port: no local-stack service is needed or touched.
Skipped, with the reason, where terraform or the local provider mirror is missing (as `make tf-check`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.infra import infra_script

pytestmark = pytest.mark.slow
#: The test's own limit, and the part of it the apply/replan/destroy phases may use: a phase still running at
#: the deadline is stopped and the report names the resources Terraform was waiting on, instead of
#: pytest-timeout killing the test with nothing to show. ~190 s quiet, ~230 s beside the running stack here.
TIMEOUT_S = 600
PHASES_DEADLINE_S = TIMEOUT_S - 90


@pytest.mark.timeout(TIMEOUT_S)
def test_apply_replan_destroy_on_the_emulator(tmp_path: Path) -> None:
    tf_apply_local = infra_script("tf_apply_local")
    runner = infra_script("plan_runner")
    find_plugin_dir, find_terraform = runner.find_plugin_dir, runner.find_terraform
    if find_terraform() is None or find_plugin_dir() is None:
        pytest.skip("terraform or the local provider mirror (/opt/tf-plugins, $TF_PLUGIN_DIR) is missing")
    out = tmp_path / "report.json"
    code = tf_apply_local.main(["--json", str(out), "--deadline-s", str(PHASES_DEADLINE_S)])
    report = json.loads(out.read_text())
    assert report.get("waiting_on") is None, report["log"]  # a phase hit the deadline: what it waited on
    assert report["resources_created"] > 200, report.get("log")
    assert report.get("assertions") == [], report.get("assertions")
    assert report.get("replan_real_changes", []) == [], report.get("replan_real_changes")
    assert report["left_in_state"] == [] and report["left_in_emulator"] == [], report
    assert [s for s in report["final_snapshots"] if "-final-" in s], "destroy took no uniquely named final snapshot"
    assert code == 0 and report["ok"], report.get("log")
