"""The exit of every command-line entry point: ``exit_with(main)`` instead of ``sys.exit(main())``.

A setting that its model refuses (an ``EB_*`` variable, ``.env``; ``eventbus.exceptions.SettingsError``)
is raised wherever the settings are first read, often before a command's own error handling. Here it
becomes one line on stderr naming the variable, and exit status 2 (the usual status of a usage error),
instead of a traceback::

    $ EB_PROFILE=prod python -m lambdas.cdc status
    error: EB_PROFILE='prod' (setting profile): Input should be 'local' or 'aws'
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from eventbus.exceptions import SettingsError


def exit_with(main: Callable[[], int | None]) -> NoReturn:
    try:
        code = main()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


def port_number(text: str) -> int:
    """An argparse ``type`` for a TCP port: 1-65535, else argparse's one-line usage error (exit 2)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def unwritable(path: str | Path, what: str) -> str | None:
    """Why a file named by ``what`` (a flag or a setting) cannot be created or appended to at ``path``, or None:
    checked before a run rather than found out at its end."""
    p = Path(path)
    if p.is_dir():
        return f"{what} {p}: is a folder — name a file"
    if not p.parent.is_dir():
        return f"{what} {p}: folder {p.parent} does not exist — create it or name another file"
    if not os.access(p if p.exists() else p.parent, os.W_OK):
        return f"{what} {p}: not writable — name another file"
    return None
