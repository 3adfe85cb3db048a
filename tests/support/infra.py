"""infra/scripts/ modules for tests. They run as scripts and import their siblings by bare name, some
lazily (plan_runner imports plan_assertions when a plan is checked), so the folder stays on ``sys.path``
once a test has asked for one of them."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPTS = Path(__file__).resolve().parents[2] / "infra" / "scripts"


def infra_script(name: str) -> ModuleType:
    """``infra/scripts/<name>.py`` as a module."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    return importlib.import_module(name)


class TfCycle:
    """`make tf-apply-local`'s apply/replan/destroy cycle (infra/scripts/tf_apply_local.py) as a subprocess started
    when collection ends, so that its ~200 s, spent mostly in Terraform's own pollers (RDS and EMR waiters of 30 s,
    S3 lifecycle checks of ~55 s; ~70 CPU-s), overlaps the tests that run before its test. The test then waits for
    the report. Stopped (SIGTERM: the runner stops Terraform and its emulator) when the session ends."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: Path | None = None

    def start(self) -> None:
        if self.proc is not None:
            return
        self.dir = Path(tempfile.mkdtemp(prefix="tf-cycle-"))
        with (self.dir / "runner.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(SCRIPTS / "tf_apply_local.py"), "--json", str(self.dir / "report.json"),
                 "--deadline-s", str(self.deadline_s)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout_s: float) -> tuple[int | None, dict[str, Any], str]:
        """(exit code or None if still running after ``timeout_s``, the report, the runner's output)."""
        self.start()
        assert self.proc is not None and self.dir is not None
        try:
            code: int | None = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        report_file = self.dir / "report.json"
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
        return code, report, (self.dir / "runner.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.proc = self.dir = None


#: The test's own limit, and the part of it the apply/replan/destroy phases may use: a phase still running at the
#: deadline is stopped and the report names the resources Terraform was waiting on. ~190 s quiet, ~230 s beside
#: the running stack here.
TF_CYCLE_TIMEOUT_S = 600
TF_CYCLE = TfCycle(deadline_s=TF_CYCLE_TIMEOUT_S - 90)
