"""The last ``make verify`` result and its history, for the console's Verify page.

``python -m lambdas.verify`` writes ``last.json`` (the full result: one row per output with the differing
keys, the latency stages) and appends a summary line to ``history.jsonl`` in its result folder
(``EB_VERIFY_RESULT_DIR``, default ``<state folder>/verify``). The console only reads them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import deque
from pathlib import Path
from typing import Any

HISTORY = 200  # runs shown on the latency chart


def result_dir() -> Path:
    from eventbus.paths import local_state_dir

    env = os.environ.get("EB_VERIFY_RESULT_DIR")
    return Path(env) if env else local_state_dir() / "verify"


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
