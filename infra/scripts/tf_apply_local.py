"""`make tf-apply-local`: apply the whole of infra/ to a private AWS emulator, re-plan (must be empty),
destroy (must leave nothing), and print what was created and how long each phase took.

    python infra/scripts/tf_apply_local.py                      # private moto server on a free port
    python infra/scripts/tf_apply_local.py --endpoint http://127.0.0.1:4566   # an emulator already running
    python infra/scripts/tf_apply_local.py --json bench/results/tf_apply_local.json --keep

The root and its modules are applied unchanged from a scratch copy that adds only a provider override
(every endpoint on the emulator, fake credentials) and stub `make package` artifacts. Emulator gaps are
handled in the emulator (infra/scripts/emulator.py, listed in infra/README.md), never in infra/.
Variables: the defaults, plus what `make undeploy` sets (deletion protection off, buckets and the
repository emptied on destroy) and a registry name of its own (an emulator shared with the local stack
already holds `travel-events`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from apply_checks import check_applied, classify_replan, final_snapshots, leftovers
from emulator import PATCHES
from plan_runner import (
    COPY_IGNORE,
    INFRA,
    REPO,
    find_plugin_dir,
    find_terraform,
    init,
    make_stub_artifacts,
    tail,
    tf_env,
)

#: Service endpoint names of the aws provider (5.x) the root uses; each is pointed at the emulator.
ENDPOINTS = ("apigatewayv2", "cloudwatch", "ec2", "ecr", "ecs", "emrserverless", "glue", "iam", "kafka", "kms",
             "lambda", "logs", "mwaa", "rds", "s3", "scheduler", "secretsmanager", "sns", "sts")
#: Emulator-only Terraform overrides (override files in the scratch copy; infra/README.md lists them).
#: moto has no MWAA API at all: the environment itself is not created; the rest of modules/mwaa (bucket
#: objects, role, log groups, security group) is applied and destroyed like everything else.
TF_OVERRIDES = {
    "modules/mwaa/emulator_override.tf": """# Written by infra/scripts/tf_apply_local.py: moto has no MWAA API.
resource "aws_mwaa_environment" "this" {
  count = 0
}
output "environment_name" {
  value = var.name
}
output "environment_arn" {
  value = null
}
output "webserver_url" {
  value = null
}
""",
}
#: What `make undeploy` sets before destroying; the rest are the root's defaults.
APPLY_VARS = {"deletion_protection": False, "force_destroy_buckets": True, "image_tag": "emulator"}


def provider_override(endpoint: str) -> str:
    lines = "\n".join(f"    {name:<14} = \"{endpoint}\"" for name in ENDPOINTS)
    return f"""# Written by infra/scripts/tf_apply_local.py into a scratch copy only: apply to the AWS emulator.
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = false
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {{
{lines}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, deadline_s: float, ca_bundle: Path | None = None) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            ctx = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle and ca_bundle.exists() else None
            if ca_bundle and ctx is None:
                raise OSError("certificate not written yet")
            with urllib.request.urlopen(url, timeout=1, context=ctx) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


class Emulator:
    """A private moto server (infra/scripts/emulator.py) on a free port, stopped on exit."""

    def __init__(self, scratch: Path) -> None:
        self.port = free_port()
        self.proxy_port = free_port()
        self.proxy = f"http://127.0.0.1:{self.proxy_port}"
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self.log = scratch / "emulator.log"
        self.tls_dir = scratch / "tls"
        self.ca_bundle = self.tls_dir / "cert.pem"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Emulator:
        script = Path(__file__).resolve().parent / "emulator.py"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, str(script), "--port", str(self.port), "--tls-dir",
                                          str(self.tls_dir), "--proxy-port", str(self.proxy_port)], stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_http(f"{self.endpoint}/moto-api/", 60, self.ca_bundle):
            self.__exit__()
            raise SystemExit(f"error: the emulator did not answer on {self.endpoint} within 60 s (log: {self.log})")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def client_factory(endpoint: str, ca_bundle: Path | None) -> Any:
    """boto3 clients on the emulator (trusting its certificate)."""
    import boto3

    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "test",
                          "aws_secret_access_key": "test", "verify": str(ca_bundle) if ca_bundle else None}
    return lambda service: boto3.client(service, **kw)


def emulator_root(scratch: Path, endpoint: str, ca_bundle: Path | None, proxy: str | None,
                  extra_vars: dict[str, Any] | None = None) -> tuple[Path, dict[str, str], Path, str]:
    """A scratch copy of infra/ pointed at the emulator: (root dir, terraform env, var-file, registry name)."""
    repo = scratch / "repo"
    repo.mkdir(parents=True)
    for entry in REPO.iterdir():
        if entry.name not in {"infra", ".git", ".venv", "dist"}:
            (repo / entry.name).symlink_to(entry)
    shutil.copytree(INFRA, repo / "infra", ignore=COPY_IGNORE)
    work = repo / "infra"
    (work / "emulator_override.tf").write_text(provider_override(endpoint))
    for rel, text in TF_OVERRIDES.items():
        (work / rel).write_text(text)
    make_stub_artifacts(scratch / "dist")
    registry = f"travel-events-tfapply-{os.getpid()}"
    varfile = scratch / "emulator.tfvars.json"
    varfile.write_text(json.dumps({**APPLY_VARS, "artifacts_dir": str(scratch / "dist"), "registry_name": registry,
                                   **(extra_vars or {})}))
    env = tf_env(scratch / "tfdata")
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy",
              "no_proxy", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", NO_PROXY="127.0.0.1,localhost")
    if ca_bundle:
        env["AWS_CA_BUNDLE"] = str(ca_bundle)
    if proxy:  # host-prefixed endpoints (api.127.0.0.1) reach the emulator through its CONNECT proxy
        env.update(HTTPS_PROXY=proxy, NO_PROXY="")
    return work, env, varfile, registry


#: A phase's time limit when no overall deadline is given.
PHASE_TIMEOUT_S = 1800.0
#: Terraform's progress lines: an operation starts, is still waited on, or completes.
_STARTED = ("Creating...", "Destroying...", "Modifying...", "Still creating...", "Still destroying...",
            "Still modifying...")
_DONE = ("Creation complete", "Destruction complete", "Modifications complete")


def still_waiting(log: str) -> dict[str, str]:
    """What a Terraform log was still waiting on when it ended: resource address -> its last progress line
    (``Still destroying... [id=…, 5m0s elapsed]``). Empty when every started operation completed."""
    pending: dict[str, str] = {}
    for line in log.splitlines():
        address, sep, rest = line.partition(": ")
        if not sep or address != address.strip():
            continue
        if rest.startswith(_STARTED):
            pending[address] = rest
        elif rest.startswith(_DONE):
            pending.pop(address, None)
    return pending


def run_apply_cycle(endpoint: str, ca_bundle: Path | None, scratch: Path, tf: str, plugin_dir: Path,
                    parallelism: int, proxy: str | None = None, deadline: float | None = None) -> dict[str, Any]:
    """apply, plan (expect no changes), destroy; returns the report (``ok`` False on the first failure).

    ``deadline`` (``time.monotonic()`` value): a phase still running then is stopped, and the report says
    which resources Terraform was still waiting on (a hung emulator waiter names itself)."""
    work, env, varfile, registry = emulator_root(scratch, endpoint, ca_bundle, proxy)
    data_dir = scratch / "tfdata"
    client = client_factory(endpoint, ca_bundle)
    report: dict[str, Any] = {"ok": False, "endpoint": endpoint, "registry_name": registry, "phases": {}}

    def phase(name: str, cmd: list[str], ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
        t0 = time.monotonic()
        log = scratch / f"{name}.log"  # streamed, so a slow phase can be watched (--keep)
        budget = PHASE_TIMEOUT_S if deadline is None else min(PHASE_TIMEOUT_S, deadline - t0)
        if budget < 1.0:  # an earlier phase used the time up: this one is not started
            report["phases"][name] = {"seconds": 0.0, "exit": None, "skipped": True}
            report.setdefault("failed", name)
            return -1, ""
        with log.open("w") as fh:
            try:
                code = subprocess.run(cmd, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=budget,
                                      check=False).returncode
            except subprocess.TimeoutExpired:  # run() has killed terraform
                code = None
        out = log.read_text()
        report["phases"][name] = {"seconds": round(time.monotonic() - t0, 1), "exit": code}
        if code is None:
            waiting = still_waiting(out)
            report.setdefault("failed", name)
            report["waiting_on"] = waiting
            report["log"] = [*report.get("log", []),
                             f"{name}: stopped after {budget:.0f} s (the deadline); Terraform was still waiting on "
                             f"{len(waiting)} resource(s):", *(f"  {a}: {r}" for a, r in waiting.items()),
                             "last lines:", *tail(out, 20)]
            return -1, out
        if code not in ok_codes:
            report["failed"] = name
            report["log"] = tail(out, 60)
        return code, out

    t0 = time.monotonic()
    code, out = init(tf, work, plugin_dir, data_dir)
    report["phases"]["init"] = {"seconds": round(time.monotonic() - t0, 1), "exit": code}
    if code != 0:
        report.update(failed="init", log=tail(out))
        return report
    common = ["-input=false", "-no-color", "-lock=false", f"-var-file={varfile}", f"-parallelism={parallelism}"]
    code, _ = phase("apply", [tf, "apply", "-auto-approve", *common])
    state = subprocess.run([tf, "state", "list"], cwd=work, env=env, capture_output=True, text=True, check=False)
    managed = [a for a in state.stdout.split() if not (a.startswith("data.") or ".data." in a)]
    report["resources_created"] = len(managed)
    if code == 0:
        shown = subprocess.run([tf, "show", "-json"], cwd=work, env=env, capture_output=True, text=True, check=False)
        report["assertions"] = check_applied(client, json.loads(shown.stdout))
        if report["assertions"]:
            report["failed"] = "assertions"
            report["log"] = report["assertions"]
    if code == 0:
        plan_file = scratch / "replan.bin"
        code, out = phase("replan", [tf, "plan", "-detailed-exitcode", f"-out={plan_file}", *common], ok_codes=(0, 2))
        if code == 2:
            shown = subprocess.run([tf, "show", "-json", str(plan_file)], cwd=work, env=env, capture_output=True,
                                   text=True, check=False)
            real, gaps = classify_replan(json.loads(shown.stdout))
            report["replan_real_changes"], report["replan_emulator_gaps"] = real, gaps
            code = 1 if real else 0
            if real:
                report["failed"], report["log"] = "replan", real
    destroy_code, _ = phase("destroy", [tf, "destroy", "-auto-approve", *common])
    state = subprocess.run([tf, "state", "list"], cwd=work, env=env, capture_output=True, text=True, check=False)
    report["left_in_state"] = state.stdout.split()
    report["left_in_emulator"] = leftovers(client, "travel-ds") if destroy_code == 0 else []
    report["final_snapshots"] = final_snapshots(client) if destroy_code == 0 else []
    report["ok"] = (code == 0 and destroy_code == 0 and not report["left_in_state"]
                    and not report["left_in_emulator"] and "failed" not in report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/scripts/tf_apply_local.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="use this emulator instead of starting a private moto server")
    parser.add_argument("--parallelism", type=int, default=10, help="terraform -parallelism (default 10)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (printed)")
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="stop the phase still running after this many seconds in all and report what "
                             f"Terraform was waiting on (default: {PHASE_TIMEOUT_S:.0f} s per phase)")
    args = parser.parse_args(argv)
    tf, plugin_dir = find_terraform(), find_plugin_dir()
    if tf is None or plugin_dir is None:
        print("error: needs terraform >= 1.11 and the local provider mirror (see `make tf-check`)", file=sys.stderr)
        return 1
    scratch = Path(tempfile.mkdtemp(prefix="tf-apply-local-"))
    t0 = time.monotonic()
    deadline = None if args.deadline_s is None else t0 + args.deadline_s
    try:
        if args.endpoint:
            report = run_apply_cycle(args.endpoint.rstrip("/"), None, scratch, tf, plugin_dir, args.parallelism,
                                     deadline=deadline)
        else:
            with Emulator(scratch) as emu:
                report = run_apply_cycle(emu.endpoint, emu.ca_bundle, scratch, tf, plugin_dir, args.parallelism,
                                         emu.proxy, deadline=deadline)
        report["seconds"] = round(time.monotonic() - t0, 1)
        print_report(report)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
    finally:
        if args.keep:
            print(f"scratch kept at {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if report["ok"] else 1


def print_report(report: dict[str, Any]) -> None:
    phases = report["phases"]
    print(f"{'phase':<10}{'seconds':>9}  result")
    verdicts = {
        "init": "ok",
        "apply": f"{report.get('resources_created', 0)} resources created; "
                 + ("checks hold" if not report.get("assertions") else f"{len(report['assertions'])} checks FAILED"),
        "replan": "no changes" if phases.get("replan", {}).get("exit") == 0 and not report.get("replan_emulator_gaps")
        else ("CHANGES: " + "; ".join(report.get("replan_real_changes", []))[:300] if report.get("replan_real_changes")
              else f"no real change; {len(report.get('replan_emulator_gaps', []))} updates that are only moto "
                   "read-back gaps (READBACK_GAPS)"),
        "destroy": "nothing left" if not report.get("left_in_state") and not report.get("left_in_emulator")
        else "LEFT: " + ", ".join((report.get("left_in_state") or []) + (report.get("left_in_emulator") or []))[:300],
    }
    for name, p in phases.items():
        ok = p["exit"] == 0 or (name == "replan" and p["exit"] == 2 and not report.get("replan_real_changes"))
        result = (verdicts.get(name, "") if ok else "not started: the deadline had passed" if p.get("skipped")
                  else "STOPPED at the deadline" if p["exit"] is None else "FAILED")
        print(f"{name:<10}{p['seconds']:>9.1f}  {result}")
    if report.get("final_snapshots"):
        print(f"Aurora final snapshot kept (by design): {', '.join(report['final_snapshots'])}")
    print("emulator-only behaviour: " + "; ".join(f"{k}: {v}" for k, v in PATCHES.items()))
    if report.get("log"):
        print(f"--- {report.get('failed', 'replan')} ---")
        print("\n".join(report["log"]))
    print(f"tf-apply-local: {'PASS' if report['ok'] else 'FAIL'} in {report.get('seconds', 0):.1f}s")


if __name__ == "__main__":
    # SIGTERM (a test session ending, a supervisor) unwinds like Ctrl-C: the running Terraform is killed, the
    # emulator stopped and the scratch folder removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main())
