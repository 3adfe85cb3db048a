"""Where a checkout keeps things: the repository root and the local stack's state folder.

``EB_LOCAL_STATE_DIR`` moves the state folder (e.g. to keep unix-socket paths short); the stack
(``local.stack.state``), the Spark jobs' local defaults and the console all ask this one function.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def local_state_dir() -> Path:
    """The local stack's state folder: ``$EB_LOCAL_STATE_DIR``, else ``local/.state`` in this checkout."""
    return Path(os.environ.get("EB_LOCAL_STATE_DIR") or REPO_ROOT / "local" / ".state").resolve()
