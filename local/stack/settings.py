"""Settings of the local stack itself (``EB_STACK_*``), beside the shared connection settings.

    >>> StackSettings(skip="airflow, spark").skipped
    frozenset({'airflow', 'spark'})
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from eventbus.settings import ComponentSettings


class StackSettings(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="EB_STACK_")

    #: Comma-separated programs (or groups: ``airflow`` = replay + the four Airflow programs) that
    #: ``make local-up`` leaves out on purpose, e.g. ``EB_STACK_SKIP=airflow,spark`` on a small machine.
    #: Anything not skipped must be built (``make local-up`` builds it) or the start fails naming the fix.
    skip: str = ""
    #: Running as root, PostgreSQL runs as the ``postgres`` user. When that user cannot enter the
    #: checkout (a clone under root's mode-0700 home), the cluster lives here instead, one folder per
    #: checkout (``<this>/<hash of the state folder>/postgres``); ``make local-clean`` removes it.
    pg_outside_dir: Path = Path("/var/lib/travel-stack")

    @property
    def skipped(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.skip.split(",") if name.strip())
