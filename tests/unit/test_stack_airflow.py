"""Airflow's programs in the stack listen on 127.0.0.1 only: the log servers of the scheduler and the
triggerer (which bind every interface, with no setting for the host) and the scheduler's health-check
server (0.0.0.0 by default) are off. Checked against Airflow's own command-line parser."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from eventbus.settings import Settings
from local.stack import airflow
from local.stack.spec import Ctx
from local.stack.state import State

PARSE = """
import json, sys
from airflow.cli import cli_parser
parser = cli_parser.get_parser()
out = {}
for argv in json.loads(sys.argv[1]):
    ns = parser.parse_args(argv)
    out[argv[0]] = getattr(ns, "skip_serve_logs", None)
print(json.dumps(out))
"""


@pytest.mark.skipif(not airflow.installed(), reason="needs .venv-airflow (make airflow-install)")
def test_no_airflow_program_starts_a_log_server(tmp_path: Path) -> None:
    ctx = Ctx(State(tmp_path), Settings(profile="local"))
    argvs = [spec.command(ctx)[1:] for spec in airflow.SPECS if spec.command(ctx)[0] == str(airflow.AIRFLOW)]
    proc = subprocess.run([str(airflow.VENV / "bin" / "python"), "-c", PARSE, json.dumps(argvs)],
                          env=airflow.airflow_env(ctx), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    skip = json.loads(proc.stdout.strip().splitlines()[-1])
    # every subcommand that would start `serve_logs` (those with the option) is told not to
    assert {cmd: flag for cmd, flag in skip.items() if flag is not None} == {"scheduler": True, "triggerer": True}


def test_the_scheduler_health_check_server_stays_off(tmp_path: Path) -> None:
    env = airflow.airflow_env(Ctx(State(tmp_path), Settings(profile="local")))
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "False"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
