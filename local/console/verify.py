"""The last ``make verify`` result and its history, for the console's Verify page.

``python -m lambdas.verify`` writes ``last.json`` (the full result: one row per output with the differing
keys, the latency stages) and appends a summary line to ``history.jsonl`` in its result folder
(``EB_VERIFY_RESULT_DIR``, default ``<state folder>/verify``; ``lambdas/verify/settings.py``, read here
through the same model so both find the same folder). The console only reads them.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from pathlib import Path
from typing import Any

HISTORY = 200  # runs shown on the latency chart


def result_dir() -> Path:
    """The folder verify writes, through verify's own settings model: ``EB_VERIFY_RESULT_DIR`` from the
    environment or ``.env`` alike (a refused EB_VERIFY_* setting is a SettingsError: the API's 424 line)."""
    from lambdas.verify.settings import VerifySettings

    return VerifySettings().results()


def last_result(folder: Path) -> dict[str, Any]:
    """``{"last": <last.json or None>, "history": [...], "folder": ...}``; a torn or missing file is "none yet"."""
    out: dict[str, Any] = {"folder": str(folder), "last": None, "history": []}
    with contextlib.suppress(OSError, ValueError):
        out["last"] = json.loads((folder / "last.json").read_text())
    try:
        with open(folder / "history.jsonl", encoding="utf-8") as fh:
            lines = deque(fh, maxlen=HISTORY)
        out["history"] = [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError):
        pass
    return out
