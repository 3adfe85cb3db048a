"""The docs' tables of topics and sources are checked against their one source of truth: the catalog
(``schemas/topics.yaml``) and the simulators' registry. A new topic or source without its row fails here."""

from __future__ import annotations

import re
from pathlib import Path

from eventbus.catalog import load_catalog
from lambdas.simulators.sources import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def _rows(path: Path, first: str) -> list[list[str]]:
    """Cells of the markdown table whose header starts with ``| first |``."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def _ms_to_days(ms: int | None) -> str:
    return "" if ms is None else f", {ms // 86_400_000} d"


def test_readme_topic_table_is_the_catalog() -> None:
    catalog = load_catalog()
    documented = {row[0]: (int(row[1]), row[2], row[3], row[4].split()[0].strip("`"))
                  for row in _rows(ROOT / "README.md", "topic")}
    expected = {
        spec.name: (spec.partitions, spec.cleanup_policy + _ms_to_days(spec.retention_ms), spec.key,
                    spec.schema["name"].rsplit(".", 1)[-1])
        for spec in catalog
    }
    assert documented == expected


def test_simulators_readme_lists_every_source_with_its_topic() -> None:
    rows = {row[0]: row[3] for row in _rows(ROOT / "lambdas" / "simulators" / "README.md", "source")}
    assert set(rows) == set(REGISTRY)
    publication = load_catalog().get("topic_cdc_changes").publication
    assert publication is not None
    for name, cls in REGISTRY.items():
        if cls.topic:
            assert rows[name] == cls.topic, name
        else:  # writes PostgreSQL: the tables the CDC publication streams
            assert re.findall(r"\w+", rows[name]) == [t.split(".", 1)[1] for t in publication.tables], name
