"""Every settings model in the tree, found by looking, not by a hand-kept list.

A component's model is a ``BaseSettings`` (or ``eventbus.settings.ComponentSettings``) subclass in its
own package. Each candidate module is loaded from its file (so a DAG folder's own import root does not
matter); a module that cannot be imported here (a dependency of another venv) is read as text instead.

    >>> sorted(settings_env_names())[:2]
    ['EB_ARTIFACTS_BUCKET', 'EB_AWS_ENDPOINT_URL']
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

from pydantic_settings import BaseSettings

from eventbus.settings import REPO_ROOT, env_names

_CLASS = re.compile(r"^class (\w+)\((?:[\w.]*\.)?(?:BaseSettings|ComponentSettings)\):", re.M)
_SKIP = {".venv", "tests", "infra", ".state", "node_modules", ".git"}


def _files(root: Path) -> list[Path]:
    """The Python files git tracks (work in progress of others does not count), else every one."""
    try:
        out = subprocess.run(["git", "ls-files", "*.py"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return sorted(root.rglob("*.py"))
    return [root / line for line in sorted(out.stdout.splitlines()) if (root / line).is_file()]


def _candidates(root: Path) -> list[Path]:
    out = []
    for path in _files(root):
        rel = path.relative_to(root).parts
        if any(part in _SKIP or part.startswith(".venv") for part in rel):
            continue
        if _CLASS.search(path.read_text(errors="replace")):
            out.append(path)
    return out


def _from_text(path: Path) -> dict[str, dict[str, str]]:
    """class name -> {field: ENV_NAME}, parsed from the source (module not importable here)."""
    text = path.read_text()
    out = {}
    for match in _CLASS.finditer(text):
        body = text[match.end():]
        nxt = re.search(r"^\S", body, re.M)
        body = body[: nxt.start()] if nxt else body
        prefix = re.search(r"env_prefix\s*=\s*[\"']([^\"']*)", body)
        fields = re.findall(r"^    ([a-z_][a-z0-9_]*)\s*:", body, re.M)
        out[match.group(1)] = {f: ((prefix.group(1) if prefix else "") + f).upper() for f in fields}
    return out


def settings_models(root: Path = REPO_ROOT) -> dict[str, dict[str, str]]:
    """``path:Class`` -> {field: environment variable} for every settings model under ``root``."""
    found: dict[str, dict[str, str]] = {}
    for path in _candidates(root):
        rel = path.relative_to(root).as_posix()
        spec = importlib.util.spec_from_file_location("_settings_scan_" + re.sub(r"\W", "_", rel), path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError:
            found.update({f"{rel}:{name}": names for name, names in _from_text(path).items()})
            continue
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, BaseSettings) and obj.__module__ == module.__name__:
                found[f"{rel}:{name}"] = env_names(obj)
    return found


def settings_env_names(root: Path = REPO_ROOT) -> set[str]:
    """Every environment variable some settings model reads."""
    return {env for names in settings_models(root).values() for env in names.values()}
