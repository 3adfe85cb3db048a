"""Errors of the CDC relay. Each message says what happened and what to do about it."""

from __future__ import annotations


class CdcError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with (2 = fix the setup, 1 = runtime failure)."""

    exit_code = 1


class SetupError(CdcError):
    """The database or the configuration is not fit for CDC; restarting will not help."""

    exit_code = 2


class Unavailable(CdcError):
    """PostgreSQL cannot be reached right now: the relay retries; a one-off command (status, drop) exits 1."""


class ProtocolError(CdcError):
    """The replication stream held something the decoder cannot read."""


class DeliveryFailed(CdcError):
    """Kafka did not acknowledge a change; the slot was not advanced past it, so a restart replays it.

    ``transient``: the failure says nothing about the record (Kafka away past the delivery timeout, the
    producer's fatal error after a broker restart, messages purged with it); the relay then replaces
    the producer and resumes from the slot itself. Anything else (e.g. a record too large, no
    authorization) stops the relay.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
