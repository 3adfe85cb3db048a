"""Verify's own settings (``EB_VERIFY_*``); connections (Kafka, registry, PostgreSQL) come from
``eventbus.settings`` and the jobs' windows and watermark from the jobs' own settings (``rules.py``).

    >>> from lambdas.verify.settings import VerifySettings
    >>> VerifySettings().grace_s
    60.0
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eventbus.paths import local_state_dir
from eventbus.settings import ComponentSettings

#: Bounds of the durations (finite: they become Kafka timestamps and SQL times): ten years, one year.
MAX_HOURS = 87_600.0
MAX_SECONDS = 31_536_000.0


class VerifySettings(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="EB_VERIFY_")

    #: Read ``<prefix><catalog topic>`` (scratch topic sets; the truth of runs with the same kafka.topic_prefix).
    topic_prefix: str = ""
    #: Compare windows and bookings of the last this many hours of truth (0 = everything in the truth topic).
    hours: float = Field(default=24.0, ge=0.0, le=MAX_HOURS, allow_inf_nan=False)
    #: A window is compared once its end is this much behind the watermark (the job's micro-batch, its sink).
    grace_s: float = Field(default=60.0, ge=0.0, le=MAX_SECONDS, allow_inf_nan=False)
    #: A booking is compared once it has not changed for this long (CDC relay + the booking_state batch).
    booking_quiet_s: float = Field(default=90.0, ge=0.0, le=MAX_SECONDS, allow_inf_nan=False)
    #: A run whose heartbeat is older than this (and did not end) crashed: its last windows are not compared.
    stale_run_s: float = Field(default=60.0, gt=0.0, le=MAX_SECONDS, allow_inf_nan=False)
    #: Seconds to read a topic to its end before giving up (an unreachable broker fails sooner).
    read_timeout_s: float = Field(default=120.0, gt=0.0, le=MAX_SECONDS, allow_inf_nan=False)
    #: How many differing keys the table names per output.
    show_keys: int = Field(default=3, ge=1, le=100)
    #: Also compare booking_state with the PostgreSQL rows (CDC end to end).
    check_postgres: bool = True
    #: Also compare the lake's records per topic and hour with Kafka (reads the source topics raw).
    check_lake: bool = True
    #: Where the last result (last.json) and the history of latencies (history.jsonl) go; the console reads them.
    #: Default: ``verify/`` in the local stack's state folder (``EB_LOCAL_STATE_DIR``, else local/.state).
    result_dir: Path | None = None

    def results(self) -> Path:
        """The result folder; the console's Verify page reads it through this model too."""
        return self.result_dir or local_state_dir() / "verify"
