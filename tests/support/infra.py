"""infra/scripts/ modules for tests. They run as scripts and import their siblings by bare name, some
lazily (plan_runner imports plan_assertions when a plan is checked), so the folder stays on ``sys.path``
once a test has asked for one of them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "infra" / "scripts"


def infra_script(name: str) -> ModuleType:
    """``infra/scripts/<name>.py`` as a module."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    return importlib.import_module(name)
