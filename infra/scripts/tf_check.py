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
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_runner import (
    DEFAULT_PLUGIN_DIRS,
    INFRA,
    REPO,
    check_secret_versions,
    find_plugin_dir,
    find_terraform,
    init,
    plan_one,
    plan_refused,
    roots,
    run,
    scenarios,
    tail,
    tf_env,
)

STEPS = ("fmt", "validate", "plan", "checkov", "docs")


@dataclass
class Step:
    name: str
    status: str = "PASS"  # PASS | FAIL | SKIP
    detail: list[str] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict[str, object] = field(default_factory=dict)


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
                f"settings: the {n_env} EB_* names Terraform sets are all read by a settings model "
                "(shared or a component's)"
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
