"""Where a checkout keeps things: the repository root and the local stack's state folder.

``EB_LOCAL_STATE_DIR`` moves the state folder (e.g. to keep unix-socket paths short); the stack
(``local.stack.state``), the Spark jobs' local defaults and the console all ask this one function.

Imported from a zip instead of a checkout (Spark's ``--py-files pyfiles.zip`` on EMR Serverless puts the zip
itself on ``sys.path``; nothing unpacks it), files such as ``schemas/topics.yaml`` cannot be opened at a path
inside the zip. Then the zip's data folders are extracted once into a folder named by their content, and
``REPO_ROOT`` is that folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

#: The folders of a code zip that are read as files (the catalog and the Avro schemas).
DATA_DIRS = ("schemas/",)


def extracted_root(archive: Path, base: Path | None = None) -> Path:
    """A folder holding ``archive``'s ``DATA_DIRS``, named by their content (shared by the processes of one
    machine: a Spark driver and its Python workers); written to a temporary name, then renamed."""
    with zipfile.ZipFile(archive) as zf:
        members = sorted((m for m in zf.infolist() if m.filename.startswith(DATA_DIRS) and not m.is_dir()),
                         key=lambda m: m.filename)
        digest = hashlib.sha256(repr([(m.filename, m.CRC, m.file_size) for m in members]).encode()).hexdigest()
        root = (base or Path(tempfile.gettempdir())) / f"eb-code-{digest[:16]}"
        if root.is_dir():
            return root
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=root.parent))
        for member in members:
            zf.extract(member, tmp)
    try:
        tmp.rename(root)
    except OSError:  # another process renamed its copy first: the same content
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
    return root


def _code_root() -> Path:
    archive = getattr(globals().get("__loader__"), "archive", None)  # zipimport.zipimporter
    if archive and zipfile.is_zipfile(archive):
        return extracted_root(Path(archive))
    return Path(__file__).resolve().parent.parent


REPO_ROOT = _code_root()


def local_state_dir() -> Path:
    """The local stack's state folder: ``$EB_LOCAL_STATE_DIR``, else ``local/.state`` in this checkout."""
    return Path(os.environ.get("EB_LOCAL_STATE_DIR") or REPO_ROOT / "local" / ".state").resolve()
