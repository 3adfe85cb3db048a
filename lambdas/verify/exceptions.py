"""Verify's errors: each says what happened and what to do (the CLI prints it as one line, exit 2)."""

from eventbus.exceptions import EventBusError


class VerifyError(EventBusError):
    """Verify could not run (broker, topic, file, database): not a mismatch."""
