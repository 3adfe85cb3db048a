"""BACKWARD compatibility of schema changes, checked by the project itself (the local registry does
not enforce it). The rule is fastavro's own schema resolution: data written with the old schema must
be readable with the new one — a well-kept library's rules, not a hand-written rule set.

    python -m eventbus.compat            # every schemas/*.avsc against each committed version
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import fastavro
from fastavro.utils import generate_many

from eventbus.cli import exit_with
from eventbus.settings import REPO_ROOT


def backward_problems(old_text: str, new_text: str, samples: int = 25) -> list[str]:
    """Why readers on ``new_text`` cannot read data written with ``old_text`` ([] = compatible)."""
    old = fastavro.parse_schema(json.loads(old_text))
    try:
        new = fastavro.parse_schema(json.loads(new_text))
    except Exception as exc:
        return [f"new schema does not parse: {exc}"]
    problems: list[str] = []
    for record in generate_many(old, samples):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, old, record)
        buf.seek(0)
        try:
            fastavro.schemaless_reader(buf, old, new)
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
            break
    return problems


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout


def committed_versions(path: Path) -> list[tuple[str, str]]:
    """(commit, text) of every committed version of ``path``, newest first."""
    rel = path.relative_to(REPO_ROOT).as_posix()
    try:
        commits = _git("log", "--format=%H", "--", rel).split()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return []
    out = []
    for sha in commits:
        try:
            out.append((sha, _git("show", f"{sha}:{rel}")))
        except subprocess.CalledProcessError:
            continue  # deleted in that commit
    return out


def check_history(schema_dir: Path | None = None) -> dict[str, list[str]]:
    """For each schema file, problems of its current text against every earlier committed version."""
    schema_dir = schema_dir or REPO_ROOT / "schemas"
    report: dict[str, list[str]] = {}
    for path in sorted(schema_dir.glob("*.avsc")):
        current = path.read_text()
        problems = []
        for sha, old in committed_versions(path):
            if old == current:
                continue
            problems += [f"vs {sha[:10]}: {p}" for p in backward_problems(old, current)]
        report[path.name] = problems
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventbus.compat",
        description="Check that every schemas/*.avsc is BACKWARD compatible with its committed versions.",
    )
    parser.parse_args(argv)
    report: dict[str, Any] = check_history()
    bad = {k: v for k, v in report.items() if v}
    for name, problems in report.items():
        print(f"{'FAIL' if problems else 'ok  '} {name}")
        for p in problems:
            print(f"     {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    exit_with(main)
