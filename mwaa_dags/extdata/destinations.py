"""The destinations of the simulated world (``config/destinations.yaml``), for the weather and maps DAGs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from extdata.exceptions import ConfigError


@dataclass(frozen=True)
class Destination:
    code: str
    name: str
    region: str
    lat: float
    lon: float
    query: str


def load_destinations(path: Path) -> list[Destination]:
    try:
        items = yaml.safe_load(path.read_text())["destinations"]
        return [Destination(**item) for item in items]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: invalid destinations file ({exc}) — each entry needs exactly "
                          "code, name, region, lat, lon, query") from None
