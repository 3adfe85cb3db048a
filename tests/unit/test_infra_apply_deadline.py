"""`make tf-apply-local`'s deadline: a phase still running is stopped and the report names what Terraform was
waiting on (infra/scripts/tf_apply_local.py). Real Terraform log lines; a stand-in `terraform` only for the
deadline itself (the phases' real run is tests/integration/test_infra_tf_apply.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.support.infra import infra_script

# Lines as `terraform destroy -no-color` prints them (a run on the emulator, 2026-12-06), cut while Aurora's
# cluster was still being deleted.
DESTROY_LOG = """\
module.network.aws_security_group.client["emr"]: Destroying... [id=sg-f84ce69a29caf2439]
module.aurora.aws_rds_cluster.this: Destroying... [id=travel-ds-oltp]
module.emr.aws_emrserverless_application.this: Destroying... [id=00f1abc]
module.network.aws_security_group.client["emr"]: Destruction complete after 0s
module.emr.aws_emrserverless_application.this: Still destroying... [id=00f1abc, 10s elapsed]
module.aurora.aws_rds_cluster.this: Still destroying... [id=travel-ds-oltp, 10s elapsed]
module.emr.aws_emrserverless_application.this: Destruction complete after 30s
module.aurora.aws_rds_cluster.this: Still destroying... [id=travel-ds-oltp, 20s elapsed]
"""


def test_still_waiting_names_only_what_never_completed() -> None:
    still_waiting = infra_script("tf_apply_local").still_waiting
    assert still_waiting(DESTROY_LOG) == {
        "module.aurora.aws_rds_cluster.this": "Still destroying... [id=travel-ds-oltp, 20s elapsed]"}
    done = DESTROY_LOG + "module.aurora.aws_rds_cluster.this: Destruction complete after 30s\n"
    assert still_waiting(done) == {}
    assert still_waiting("Destroy complete! Resources: 223 destroyed.\nPlan: 0 to add, 0 to change.\n") == {}


def test_a_phase_past_the_deadline_is_stopped_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `terraform` that prints the log above and then hangs: the cycle stops it at the deadline and the report
    says it was waiting on the Aurora cluster; the later phases are not started."""
    mod = infra_script("tf_apply_local")
    hang = tmp_path / "terraform"
    hang.write_text(f"#!{sys.executable}\nimport sys, time\n"  # `state list` answers an empty state at once
                    f"if sys.argv[1] != 'state':\n"
                    f"    sys.stdout.write({DESTROY_LOG!r}); sys.stdout.flush(); time.sleep(600)\n")
    hang.chmod(0o755)
    monkeypatch.setattr(mod, "emulator_root", lambda *a: (tmp_path, {}, tmp_path / "vars.json", "reg"))
    monkeypatch.setattr(mod, "client_factory", lambda *a: None)
    monkeypatch.setattr(mod, "init", lambda *a: (0, ""))
    t0 = time.monotonic()
    report = mod.run_apply_cycle("http://127.0.0.1:1", None, tmp_path, str(hang), tmp_path, 10,
                                 deadline=time.monotonic() + 3)
    assert time.monotonic() - t0 < 30  # the 600-s sleep was cut at the deadline
    assert report["failed"] == "apply" and report["phases"]["apply"]["exit"] is None
    assert list(report["waiting_on"]) == ["module.aurora.aws_rds_cluster.this"]
    assert any("still waiting on 1 resource" in line for line in report["log"])
    assert report["phases"]["destroy"].get("skipped") is True
    assert not report["ok"]
