"""Offline checks of the Terraform configuration: what `make tf-check` runs (and tests/unit/test_infra_tf.py).

Steps, each reported PASS / FAIL / SKIP with the reason:

  fmt       terraform fmt -check -recursive infra/
  validate  terraform init -backend=false -plugin-dir=<local mirror> + validate, for the root and
            every infra/examples/* root
  plan      terraform plan -refresh=false in a scratch copy with a provider override (fake
            credentials, every AWS endpoint and proxy pointed at a closed local port) for each
            scenario (root defaults, root all-options, every example); fails unless every managed
            resource block of every module is planned by at least one scenario
  checkov   checkov --skip-download with infra/.checkov.yaml (every skip needs a written reason)
  docs      READMEs' input/output tables match variables.tf/outputs.tf (infra/scripts/module_docs.py)

No AWS credentials, no Terraform registry, no network except PyPI when checkov must be installed.
When the provider mirror (or terraform itself) is missing the steps that need it are SKIPPED loudly and
the run is marked DEGRADED; `--strict` turns DEGRADED into a failure.

    python infra/scripts/tf_check.py                 # everything
    python infra/scripts/tf_check.py --only fmt,validate
    python infra/scripts/tf_check.py --json bench/results/tf_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

INFRA = Path(__file__).resolve().parent.parent
REPO = INFRA.parent
EXAMPLES = INFRA / "examples"
SCENARIOS_DIR = INFRA / "scenarios"
DEFAULT_PLUGIN_DIRS = ("/opt/tf-plugins", "~/.terraform.d/plugins")
COPY_IGNORE = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", ".venv-checkov", "__pycache__", "*.tfstate*")
STEPS = ("fmt", "validate", "plan", "checkov", "docs")

# Fake account/AZs/credentials for the offline plan. The endpoints and proxy point at a closed port so
# an accidental AWS call fails fast instead of leaving the machine.
OFFLINE_VARS = {"account_id": "123456789012", "azs": ["us-east-1a", "us-east-1b"], "region": "us-east-1"}
OFFLINE_PROVIDER = """\
# Written by infra/scripts/tf_check.py into a scratch copy only: plan without AWS.
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "AKIAOFFLINEPLAN00000"
  secret_key                  = "offline-plan-not-a-real-key"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
"""
CLOSED = "http://127.0.0.1:9"


@dataclass
class Step:
    name: str
    status: str = "PASS"  # PASS | FAIL | SKIP
    detail: list[str] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------------------------
def find_terraform() -> str | None:
    return os.environ.get("TERRAFORM") or shutil.which("terraform")


def find_plugin_dir() -> Path | None:
    """A local provider mirror holding hashicorp/aws for this OS/arch."""
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    osarch = f"{platform.system().lower()}_{arch}"
    candidates = [os.environ["TF_PLUGIN_DIR"]] if os.environ.get("TF_PLUGIN_DIR") else list(DEFAULT_PLUGIN_DIRS)
    for cand in candidates:
        root = Path(cand).expanduser()
        if any(root.glob(f"registry.terraform.io/hashicorp/aws/*/{osarch}")):
            return root
    return None


def tf_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TF_DATA_DIR=str(data_dir),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",  # no version check call home
        TF_CLI_CONFIG_FILE=os.devnull,  # the machine's CLI config must not redirect providers
    )
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> tuple[int, str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def tail(text: str, lines: int = 25) -> list[str]:
    return text.splitlines()[-lines:]


def roots() -> list[Path]:
    """The root module and every example root."""
    examples = sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and any(p.glob("*.tf"))) if EXAMPLES.is_dir() else []
    return [INFRA, *examples]


def init(tf: str, root: Path, plugin_dir: Path, data_dir: Path) -> tuple[int, str]:
    return run(
        [tf, "init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={plugin_dir}", "-lockfile=readonly"]
        if (root / ".terraform.lock.hcl").exists()
        else [tf, "init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={plugin_dir}"],
        root,
        tf_env(data_dir),
    )


# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------
def step_fmt(tf: str) -> Step:
    step = Step("fmt")
    code, out = run(
        [tf, "fmt", "-check", "-recursive", "-diff", "-no-color", str(INFRA)], REPO, tf_env(REPO / ".terraform-unused")
    )
    if code != 0:
        step.status = "FAIL"
        step.detail = ["files need `terraform fmt -recursive infra`:", *tail(out, 40)]
    else:
        step.detail = ["every .tf file is canonically formatted"]
    return step


def step_validate(tf: str, plugin_dir: Path, scratch: Path) -> Step:
    step = Step("validate")
    for root in roots():
        rel = root.relative_to(REPO)
        data_dir = scratch / "validate" / rel.as_posix().replace("/", "_")
        code, out = init(tf, root, plugin_dir, data_dir)
        if code == 0:
            code, out = run([tf, "validate", "-no-color"], root, tf_env(data_dir))
        if code != 0:
            step.status = "FAIL"
            step.detail += [f"{rel}: FAILED", *tail(out)]
        else:
            step.detail.append(f"{rel}: valid")
    step.metrics["roots"] = len(roots())
    return step


def scenarios() -> list[tuple[str, Path, Path | None]]:
    """(name, root, extra var-file): root defaults, root with every option on, each example."""
    out: list[tuple[str, Path, Path | None]] = [("root:defaults", INFRA, None)]
    for varfile in sorted(SCENARIOS_DIR.glob("*.tfvars")) if SCENARIOS_DIR.is_dir() else []:
        out.append((f"root:{varfile.stem}", INFRA, varfile))
    out += [(f"example:{r.name}", r, None) for r in roots()[1:]]
    return out


def make_stub_artifacts(dist: Path) -> None:
    """Placeholder `make package` outputs: the plan needs the files, not their contents."""
    import zipfile

    for name in ("gateway", "bootstrap", "simulators"):
        dist.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dist / f"{name}.zip", "w") as zf:
            zf.writestr("placeholder.py", "# offline plan stub\n")
    (dist / "mwaa" / "dags").mkdir(parents=True, exist_ok=True)
    (dist / "mwaa" / "dags" / "placeholder_dag.py").write_text(
        "# offline plan stub\nfrom airflow.sdk import dag\n\n@dag(schedule=None)\ndef placeholder(): ...\n"
    )
    (dist / "mwaa" / "requirements.txt").write_text("# offline plan stub\n")
    (dist / "emr").mkdir(parents=True, exist_ok=True)
    (dist / "emr" / "pyfiles.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    (dist / "emr" / "placeholder_job.py").write_text("if __name__ == '__main__':\n    pass\n")
    (dist / "emr" / "entrypoints.json").write_text(json.dumps({"entry_points": ["placeholder_job.py"]}))


def scratch_copy(scratch: Path) -> Path:
    """A copy of infra/ beside symlinks to the repo's other top-level folders (schemas, ...)."""
    repo = scratch / "repo"
    if not repo.exists():
        repo.mkdir(parents=True)
        for entry in REPO.iterdir():
            if entry.name not in {"infra", ".git", ".venv", "dist"}:
                (repo / entry.name).symlink_to(entry)
        shutil.copytree(INFRA, repo / "infra", ignore=COPY_IGNORE)
        for root in roots():
            (repo / root.relative_to(REPO) / "offline_override.tf").write_text(OFFLINE_PROVIDER)
        make_stub_artifacts(scratch / "dist")
    return repo


def _strip_keys(address: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", address)


def config_resources(module: dict, module_dir: Path, prefix: str, acc: dict[str, tuple[Path, str]]) -> None:
    """Every managed resource block: planned address (without keys) -> (module dir, type.name)."""
    for res in module.get("resources", []):
        if res.get("mode") == "managed":
            acc[f"{prefix}{res['type']}.{res['name']}"] = (module_dir.resolve(), f"{res['type']}.{res['name']}")
    for name, call in module.get("module_calls", {}).items():
        child_dir = module_dir / call.get("source", "")
        config_resources(call.get("module", {}), child_dir, f"{prefix}module.{name}.", acc)


def plan_one(
    tf: str, plugin_dir: Path, scratch: Path, name: str, root: Path, varfile: Path | None, artifacts: Path | None = None
) -> dict:
    repo = scratch_copy(scratch)
    work = repo / root.relative_to(REPO)
    data_dir = scratch / "plan" / re.sub(r"\W", "_", name)
    env = tf_env(data_dir)
    # Belt and braces: any AWS API call or proxied request goes to a closed local port.
    env.update(
        AWS_ENDPOINT_URL=CLOSED, HTTPS_PROXY=CLOSED, HTTP_PROXY=CLOSED, NO_PROXY="", AWS_EC2_METADATA_DISABLED="true"
    )
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    code, out = init(tf, work, plugin_dir, data_dir)
    if code != 0:
        return {"ok": False, "log": tail(out)}
    vars_file = data_dir / "offline.auto.tfvars.json"
    declared = "\n".join(p.read_text() for p in work.glob("*.tf"))
    offline = {k: v for k, v in OFFLINE_VARS.items() if f'variable "{k}"' in declared}
    if 'variable "artifacts_dir"' in declared:
        offline["artifacts_dir"] = str(artifacts or scratch / "dist")
    vars_file.write_text(json.dumps(offline))
    cmd = [tf, "plan", "-refresh=false", "-input=false", "-lock=false", "-no-color", f"-var-file={vars_file}"]
    if varfile is not None:
        cmd.append(f"-var-file={repo / varfile.relative_to(REPO)}")
    plan_file = data_dir / "plan.bin"
    code, out = run([*cmd, f"-out={plan_file}"], work, env)
    if code != 0:
        return {"ok": False, "log": tail(out, 60)}
    code, shown = run([tf, "show", "-json", str(plan_file)], work, env)
    if code != 0:
        return {"ok": False, "log": tail(shown)}
    plan = json.loads(shown)
    import plan_assertions  # sibling module

    env_names = plan_assertions.settings_env_names() if plan_assertions.SETTINGS.exists() else None
    violations = plan_assertions.check_plan(plan, env_names)
    catalog = load_catalog_yaml(repo / "schemas" / "topics.yaml")
    if catalog is not None:
        violations += plan_assertions.check_access(plan, catalog)
    changes = [c for c in plan.get("resource_changes", []) if c.get("mode") == "managed"]
    not_create = [c["address"] for c in changes if c["change"]["actions"] != ["create"]]
    configured: dict[str, tuple[Path, str]] = {}
    config_resources(plan["configuration"]["root_module"], work, "", configured)
    planned = {_strip_keys(c["address"]) for c in changes}
    blocks = {
        str((d.relative_to(repo.resolve()) if d.is_relative_to(repo.resolve()) else d) / r): a in planned
        for a, (d, r) in configured.items()
    }
    log = [f"expected only creates, got changes to {not_create[:5]}"] if not_create else []
    log += [f"VIOLATION {v}" for v in violations]
    return {
        "ok": not log,
        "resources": len(changes),
        "blocks": blocks,
        "log": log,
        "secret_versions": plan_assertions.secret_versions(plan),
        "access": ((plan.get("planned_values") or {}).get("outputs") or {}).get("topic_access", {}).get("value"),
    }


def load_catalog_yaml(path: Path) -> dict | None:
    """The topic catalog, parsed independently of Terraform (None when PyYAML is not importable)."""
    try:
        import yaml
    except ImportError:
        return None
    return yaml.safe_load(path.read_text())


# Scenario pairs whose only relevant difference is the gateway's API keys (generated vs given): the
# planned secret version must differ, i.e. a changed value reaches the secret.
KEYED_SECRET = "module.gateway.aws_secretsmanager_secret_version.api_keys"


def check_secret_versions(results: dict[str, dict]) -> list[str]:
    """Secret versions derive from the value: known at plan where the value is, and different for different values."""
    a, b = results.get("root:defaults"), results.get("root:all-options")
    if not a or not b or not a.get("ok") or not b.get("ok"):
        return []
    va, vb = a["secret_versions"].get(KEYED_SECRET), b["secret_versions"].get(KEYED_SECRET)
    if va is None or vb is None:
        return [f"{KEYED_SECRET}: secret_string_wo_version not known at plan ({va!r}, {vb!r})"]
    if va == vb:
        return [f"{KEYED_SECRET}: same secret_string_wo_version ({va}) for different keys: a change is never written"]
    return []


def plan_refused(tf: str, plugin_dir: Path, scratch: Path) -> tuple[bool, list[str]]:
    """The root refuses to plan MWAA from a bundle with no DAG, and EMR from one with no job entry point."""
    ok, lines = True, []
    for case, message in (("mwaa", "No DAG in"), ("emr", "No Spark job entry points")):
        empty = scratch / f"dist-no-{case}"
        make_stub_artifacts(empty)
        if case == "mwaa":
            (empty / "mwaa" / "dags" / "placeholder_dag.py").write_text("# no DAG here\n")
        else:
            (empty / "emr" / "entrypoints.json").write_text(json.dumps({"entry_points": []}))
        res = plan_one(tf, plugin_dir, scratch, f"root:no-{case}", INFRA, None, artifacts=empty)
        if res["ok"] or message not in "\n".join(res.get("log", [])):
            ok = False
            lines += [f"empty {case} bundle: expected the plan to fail with {message!r}", *res.get("log", [])[-10:]]
        else:
            lines.append(f"empty {case} bundle: plan refused ({message!r})")
    return ok, lines


def step_plan(tf: str, plugin_dir: Path, scratch: Path) -> Step:
    step = Step("plan")
    covered: dict[str, bool] = {}
    results: dict[str, dict] = {}
    for name, root, varfile in scenarios():
        t0 = time.monotonic()
        res = results[name] = plan_one(tf, plugin_dir, scratch, name, root, varfile)
        secs = time.monotonic() - t0
        if not res["ok"]:
            step.status = "FAIL"
            step.detail += [f"{name}: FAILED", *res["log"]]
            continue
        step.metrics[f"resources[{name}]"] = res["resources"]
        step.detail.append(f"{name}: {res['resources']} resources to create, invariants hold ({secs:.1f}s)")
        for block, hit in res["blocks"].items():
            covered[block] = covered.get(block, False) or hit
    version_errors = check_secret_versions(results)
    if version_errors:
        step.status = "FAIL"
        step.detail += [f"  VIOLATION {e}" for e in version_errors]
    else:
        step.detail.append("secrets: the gateway keys' planned version differs for different keys")
    access = (results.get("root:defaults") or {}).get("access")
    if access:
        step.metrics["topic_grants"] = sum(len(a["write"]) + len(a["read"]) for a in access.values())
        step.detail.append("access: Kafka grants = the catalog's writers/readers for " + ", ".join(sorted(access)))
    refused, lines = plan_refused(tf, plugin_dir, scratch)
    step.detail += lines
    if not refused:
        step.status = "FAIL"
    import plan_assertions

    checked, iam_errors = plan_assertions.check_iam_source()
    step.metrics["iam_statements_checked"] = checked
    if iam_errors:
        step.status = "FAIL"
        step.detail += ["IAM policy source:", *[f"  VIOLATION {e}" for e in iam_errors]]
    else:
        step.detail.append(
            f"IAM: {checked} policy statements, none with a wildcard action or an avoidable `*` resource"
        )
    if plan_assertions.SETTINGS.exists():
        n_env, env_errors = plan_assertions.check_env_source()
        step.metrics["eb_env_names"] = n_env
        if env_errors:
            step.status = "FAIL"
            step.detail += [f"  VIOLATION {e}" for e in env_errors]
        else:
            step.detail.append(
                f"settings: the {n_env} EB_* names Terraform sets are all eventbus.settings.Settings fields"
            )
    missing = sorted(b for b, hit in covered.items() if not hit)
    step.metrics["resource_blocks"] = len(covered)
    step.metrics["resource_blocks_unplanned"] = len(missing)
    if missing:
        step.status = "FAIL"
        step.detail += [
            "resource blocks no scenario plans (add an option to infra/scenarios/*.tfvars or an example):",
            *[f"  {m}" for m in missing],
        ]
    elif step.status == "PASS":
        step.detail.append(f"all {len(covered)} resource blocks planned by at least one scenario")
    return step


def step_checkov(args: argparse.Namespace) -> Step:
    import checkov_runner  # sibling module

    res = checkov_runner.run_checkov(INFRA, install=not args.no_install)
    return Step("checkov", res["status"], res["detail"], metrics=res["metrics"])


def step_docs() -> Step:
    code, out = run([sys.executable, str(INFRA / "scripts" / "module_docs.py"), "--check"], REPO)
    return Step("docs", "PASS" if code == 0 else "FAIL", tail(out, 30))


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/scripts/tf_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated steps (default: {','.join(STEPS)})")
    parser.add_argument("--strict", action="store_true", help="fail when a step had to be skipped (DEGRADED)")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install checkov when it is missing")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (printed) for debugging")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s): {', '.join(sorted(unknown))}; choose from {', '.join(STEPS)}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    tf = find_terraform()
    plugin_dir = find_plugin_dir()
    scratch = Path(tempfile.mkdtemp(prefix="tf-check-"))
    results: list[Step] = []
    t_all = time.monotonic()
    try:
        for name in wanted:
            t0 = time.monotonic()
            if name in ("fmt", "validate", "plan") and tf is None:
                step = Step(name, "SKIP", ["terraform not found on PATH (or $TERRAFORM): install Terraform >= 1.11"])
            elif name in ("validate", "plan") and plugin_dir is None:
                step = Step(
                    name,
                    "SKIP",
                    [
                        "no local provider mirror with registry.terraform.io/hashicorp/aws for this platform in "
                        f"{', '.join(DEFAULT_PLUGIN_DIRS)} (or $TF_PLUGIN_DIR): cannot init/validate/plan offline",
                    ],
                )
            elif name == "fmt":
                step = step_fmt(tf)  # type: ignore[arg-type]
            elif name == "validate":
                step = step_validate(tf, plugin_dir, scratch)  # type: ignore[arg-type]
            elif name == "plan":
                step = step_plan(tf, plugin_dir, scratch)  # type: ignore[arg-type]
            elif name == "checkov":
                step = step_checkov(args)
            else:
                step = step_docs()
            step.seconds = round(time.monotonic() - t0, 1)
            results.append(step)
            print(f"[{step.status}] {step.name} ({step.seconds:.1f}s)", flush=True)
            for line in step.detail:
                print(f"    {line}", flush=True)
    finally:
        if args.keep:
            print(f"scratch kept at {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    failed = [s.name for s in results if s.status == "FAIL"]
    skipped = [s.name for s in results if s.status == "SKIP"]
    total = round(time.monotonic() - t_all, 1)
    if skipped:
        print("\n" + "!" * 78)
        print(f"!! DEGRADED: skipped {', '.join(skipped)} — see the reasons above. This is NOT a full pass.")
        print("!" * 78)
    verdict = "FAIL" if failed or (skipped and args.strict) else ("DEGRADED" if skipped else "PASS")
    print(
        f"\ntf-check: {verdict} in {total:.1f}s — "
        f"{sum(s.status == 'PASS' for s in results)} passed, {len(failed)} failed, {len(skipped)} skipped"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"verdict": verdict, "seconds": total, "steps": [asdict(s) for s in results]}, indent=2)
        )
    return 1 if verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
