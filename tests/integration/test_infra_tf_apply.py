"""`make tf-apply-local` as part of `make test`: the whole of infra/ applied to a private AWS emulator, the
applied layer checked, a re-plan with no real change, a destroy that leaves nothing (the same code path:
infra/scripts/tf_apply_local.py). Its own emulator on a free port: no local-stack service is needed or touched.
Skipped, with the reason, where terraform or the local provider mirror is missing (as `make tf-check`).
The cycle runs as a subprocess started when collection ends (tests.support.infra.TfCycle), so that its ~200 s,
mostly Terraform's own pollers waiting, overlap the tests before this one.
"""

from __future__ import annotations

import pytest

from tests.support.infra import TF_CYCLE, TF_CYCLE_TIMEOUT_S, infra_script

pytestmark = pytest.mark.slow


@pytest.mark.timeout(TF_CYCLE_TIMEOUT_S)
def test_apply_replan_destroy_on_the_emulator() -> None:
    runner = infra_script("plan_runner")
    if runner.find_terraform() is None or runner.find_plugin_dir() is None:
        pytest.skip("terraform or the local provider mirror (/opt/tf-plugins, $TF_PLUGIN_DIR) is missing")
    # Started when collection ended (conftest: TF_CYCLE.start); its phases stop at their own deadline.
    code, report, output = TF_CYCLE.wait(TF_CYCLE_TIMEOUT_S - 30)
    assert code is not None, f"the cycle was still running after {TF_CYCLE_TIMEOUT_S - 30} s:\n{output[-3000:]}"
    assert report, f"the cycle wrote no report (exit {code}):\n{output[-3000:]}"
    assert report.get("waiting_on") is None, report["log"]  # a phase hit the deadline: what it waited on
    assert report["resources_created"] > 200, report.get("log")
    assert report.get("assertions") == [], report.get("assertions")
    assert report.get("replan_real_changes", []) == [], report.get("replan_real_changes")
    assert report["left_in_state"] == [] and report["left_in_emulator"] == [], report
    assert [s for s in report["final_snapshots"] if "-final-" in s], "destroy took no uniquely named final snapshot"
    assert code == 0 and report["ok"], report.get("log")
