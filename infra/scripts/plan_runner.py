"""Planning the configuration offline, one scenario at a time (used by tf_check.py's validate/plan steps).

A scenario is a root (infra/ or an example) plus an optional var-file, planned in a scratch copy with a
provider override (fake credentials, every AWS endpoint and proxy on a closed local port) and stub
`make package` artifacts; the plan JSON is then checked by plan_assertions.py.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # sibling modules (plan_assertions)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

INFRA = Path(__file__).resolve().parent.parent
REPO = INFRA.parent
EXAMPLES = INFRA / "examples"
SCENARIOS_DIR = INFRA / "scenarios"
DEFAULT_PLUGIN_DIRS = ("/opt/tf-plugins", "~/.terraform.d/plugins")
COPY_IGNORE = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", ".venv-checkov", "__pycache__", "*.tfstate*",
                                     "deploy.auto.tfvars.json")

# Fake account/AZs/credentials for the offline plan. The endpoints and proxy point at a closed port so
# an accidental AWS call fails fast instead of leaving the machine.
OFFLINE_VARS = {"account_id": "123456789012", "azs": ["us-east-1a", "us-east-1b"], "region": "us-east-1",
                "image_tag": "offline-plan"}
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
    import deploy_assertions  # sibling module: what a first real apply/destroy would hit

    violations += deploy_assertions.check_deploy(plan)
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
