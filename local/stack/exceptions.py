"""Errors of the local stack. Each message says what happened and what to do."""

from __future__ import annotations


class StackError(Exception):
    """The local stack could not be brought to the asked state."""


class PrerequisiteError(StackError):
    """Something the stack needs is missing on this machine; the message carries a one-line fix."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what} — fix: {fix}")
        self.what = what
        self.fix = fix


class NotReadyError(StackError):
    """A process did not become healthy before its deadline."""
