"""The simulators' own settings (env ``EB_SIMULATORS_*``). Scenarios (YAML) say what to simulate; these say
where the code of the sources is. Connections (Kafka, the gateway's URL and keys, PostgreSQL) are the
shared ``eventbus.settings.Settings``.

    >>> SimulatorSettings(source_dirs="/srv/my_sources:/opt/more").source_dirs
    (PosixPath('/srv/my_sources'), PosixPath('/opt/more'))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from eventbus.settings import ComponentSettings


class SimulatorSettings(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="EB_SIMULATORS_")

    #: Folders of extra source modules (``os.pathsep``-separated), found like the built-in ones in
    #: ``lambdas/simulators/sources/``: every module's ``Source`` subclasses register by name.
    source_dirs: Annotated[tuple[Path, ...], NoDecode] = ()

    @field_validator("source_dirs", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(Path(p) for p in value.split(os.pathsep) if p.strip())
        return value
