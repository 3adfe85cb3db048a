"""checkov for tf-check: installed in its own venv (it pins many packages), run offline, skips audited.

    python infra/scripts/checkov_runner.py            # install if needed, scan infra/, print the summary

Every `skip-check` entry in infra/.checkov.yaml must carry a `# reason` comment on its line; an entry
without one fails the step, so a check is never silenced without a written reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

CHECKOV_VERSION = "3.3.30"
INFRA = Path(__file__).resolve().parent.parent
CONFIG = INFRA / ".checkov.yaml"
MIN_REASON = 15  # characters


def venv_dir() -> Path:
    return Path(os.environ.get("CHECKOV_VENV", INFRA / ".venv-checkov"))


def ensure_checkov(install: bool) -> tuple[str | None, str]:
    """Path of the checkov executable, installing it into the venv when allowed."""
    if os.environ.get("CHECKOV"):
        return os.environ["CHECKOV"], "from $CHECKOV"
    exe = venv_dir() / "bin" / "checkov"
    if exe.exists():
        return str(exe), f"from {venv_dir()}"
    if not install:
        return None, f"checkov not installed in {venv_dir()} and --no-install given"
    print(f"    installing checkov=={CHECKOV_VERSION} into {venv_dir()} (one-time, 1-3 min)...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv_dir())],
        [str(venv_dir() / "bin" / "pip"), "install", "-q", "--upgrade", "pip"],
        [str(venv_dir() / "bin" / "pip"), "install", "-q", f"checkov=={CHECKOV_VERSION}"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return None, f"installing checkov failed ({' '.join(cmd[:3])}...): {proc.stderr.strip()[-400:]}"
    return str(exe), f"installed into {venv_dir()}"


def audit_skips(config: Path = CONFIG) -> tuple[list[str], list[str]]:
    """(skipped check ids, problems): every skip-check list item needs a reason comment."""
    ids, problems, in_skip = [], [], False
    for n, line in enumerate(config.read_text().splitlines(), 1):
        if re.match(r"^skip-check:\s*$", line):
            in_skip = True
            continue
        if in_skip and re.match(r"^\S", line):
            in_skip = False
        m = re.match(r"^\s+-\s+(CKV2?_[A-Z0-9]+_\d+)\s*(#\s*(.*))?$", line) if in_skip else None
        if m:
            ids.append(m.group(1))
            if len((m.group(3) or "").strip()) < MIN_REASON:
                problems.append(f"{config.name}:{n}: {m.group(1)} has no written reason (`- ID  # why`)")
    return ids, problems


def run_checkov(infra: Path = INFRA, install: bool = True) -> dict:
    result: dict = {"status": "PASS", "detail": [], "metrics": {}}
    exe, how = ensure_checkov(install)
    if exe is None:
        result.update(status="SKIP", detail=[how])
        return result
    skips, problems = audit_skips()
    cmd = [
        exe,
        "-d",
        str(infra),
        "--framework",
        "terraform",
        "--skip-download",
        "--config-file",
        str(CONFIG),
        "-o",
        "json",
        "--compact",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=infra)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result.update(
            status="FAIL", detail=["checkov produced no JSON report:", *proc.stderr.strip().splitlines()[-15:]]
        )
        return result
    reports = report if isinstance(report, list) else [report]
    summary = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}
    failures = []
    for rep in reports:
        for key in summary:
            summary[key] += int(rep.get("summary", {}).get(key, 0))
        for chk in rep.get("results", {}).get("failed_checks", []):
            where = f"{chk['file_path']}:{chk['file_line_range'][0]}"
            failures.append(f"{chk['check_id']} {chk['resource']} ({where}) — {chk['check_name']}")
    result["metrics"] = {**summary, "skip_rules": len(skips), "checkov_version": CHECKOV_VERSION}
    result["detail"].append(
        f"checkov {how}: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped "
        f"({len(skips)} skip rules, each with a reason in {CONFIG.relative_to(infra.parent)}), "
        f"{summary['resource_count']} resources, {summary['parsing_errors']} parsing errors"
    )
    if summary["failed"] or summary["parsing_errors"] or problems:
        result["status"] = "FAIL"
        result["detail"] += problems + failures[:60]
    return result


if __name__ == "__main__":
    res = run_checkov()
    print(f"[{res['status']}] checkov")
    for line in res["detail"]:
        print(f"    {line}")
    sys.exit(1 if res["status"] == "FAIL" else 0)
