"""The docs do not restate the catalog (``schemas/topics.yaml``) or the simulators' registry: no table of
topics or sources to keep by hand, and every topic or source a doc names exists. A new topic or source
therefore changes no doc (tests/integration/test_new_source_copy.py adds one to a copy of the repository
and runs this file there), while a rename or removal leaves no stale name behind."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from eventbus.catalog import load_catalog
from lambdas.simulators.__main__ import main as simulators_cli
from lambdas.simulators.sources import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
TOPIC_WORD = re.compile(r"\btopic_[a-z0-9_]+\b")
#: Names of the form topic_* that are not topics: code identifiers and placeholders the docs mention.
NOT_TOPICS = {"topic_prefix", "topic_access", "topic_arn_prefix"}


def _docs() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=False)
    names = listed.stdout.split() if listed.returncode == 0 else []
    return [ROOT / n for n in names if (ROOT / n).is_file()] or sorted(ROOT.glob("**/README.md"))


def _table_rows(text: str) -> list[str]:
    """First cells of every markdown table row."""
    return [line.strip("|").split("|")[0].strip().strip("`") for line in text.splitlines() if line.startswith("|")]


def test_no_doc_restates_the_topic_list_or_the_source_list() -> None:
    topics, sources = set(load_catalog().names()), set(REGISTRY)
    for doc in _docs():
        first_cells = set(_table_rows(doc.read_text()))
        listed_topics, listed_sources = first_cells & topics, first_cells & sources
        # one or two rows may name a topic as an example; a table of most of them is a copy
        assert len(listed_topics) < len(topics) // 2, f"{doc}: a table of topics ({sorted(listed_topics)}) — " \
            "the catalog is the table; point at schemas/topics.yaml instead"
        assert len(listed_sources) < len(sources) // 2, f"{doc}: a table of sources ({sorted(listed_sources)}) " \
            "— `python -m lambdas.simulators sources` is the list; point at it instead"


def test_every_topic_a_doc_names_is_in_the_catalog() -> None:
    topics = set(load_catalog().names())
    stale = {f"{doc.relative_to(ROOT)}: {word}" for doc in _docs()
             for word in TOPIC_WORD.findall(doc.read_text()) if word not in topics | NOT_TOPICS}
    assert not stale, f"docs name topics the catalog does not have: {sorted(stale)}"


def test_the_simulators_readme_names_each_source_and_where_the_list_is() -> None:
    text = (ROOT / "lambdas" / "simulators" / "README.md").read_text()
    assert "python -m lambdas.simulators sources" in text
    named = set(re.findall(r"`(\w+)`", text))
    seed = {"mobile", "web", "clickstream", "app_logs", "external", "oltp"}
    assert seed <= set(REGISTRY) and seed <= named  # the seed's sources are described; new ones need not be


def test_the_sources_command_lists_every_source_with_topic_and_rate(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulators_cli(["sources"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line and not line[0].isspace()}
    assert set(lines) == set(REGISTRY)
    for name, cls in REGISTRY.items():
        assert f"topic={cls.topic or '(PostgreSQL)'}" in lines[name]
        assert "default rate=" + ("-" if cls.default_rate is None else f"{cls.default_rate:g}/s") in lines[name]
