"""Who writes and reads each topic is declared once, in the catalog (``writers:`` / ``readers:``), and the
code agrees with it: every topic a component's code produces to is one it is a declared writer of.

The code is read statically (AST, docstrings ignored): a string literal equal to a catalog topic name is a
*write* when it is bound to a name like ``topic`` / ``*_TOPIC`` / ``SINK`` / ``OUTPUT*`` / ``DEAD_LETTER``
or passed to ``produce`` / ``send`` / ``encode`` / ``to_kafka``, and a mention otherwise. A component that
reads nothing may only mention topics it writes; one that reads may mention its reads too. The MSK grants
in Terraform are derived from the same declarations (infra/iam.tf; tf-check asserts the plan matches).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from eventbus.catalog import Catalog, load_catalog, parse_catalog
from eventbus.exceptions import ConfigurationError
from eventbus.settings import Settings

REPO = Path(__file__).resolve().parents[2]
WRITE_NAME = re.compile(r"(sink|output|dead_letter|(^|_)topic$)", re.I)
WRITE_CALL = re.compile(r"^(produce|send|send_many|encode|to_kafka|write_topic)$")


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.arg):
        return node.arg
    return ""


def _write_values(node: ast.AST) -> list[ast.AST]:
    """The expressions a node sends somewhere as a topic (bound to a topic-like name, passed to a producer)."""
    if isinstance(node, ast.Assign) and any(WRITE_NAME.search(_name(t)) for t in node.targets):
        return [node.value]
    if isinstance(node, ast.AnnAssign | ast.keyword):
        target = node.arg if isinstance(node, ast.keyword) else _name(node.target)
        if node.value is not None and target and WRITE_NAME.search(target):
            return [node.value]
    if isinstance(node, ast.Call) and WRITE_CALL.match(_name(node.func)):
        return [*node.args, *(k.value for k in node.keywords)]
    return []


Found = dict[str, set[str]]  # topic -> files


def topic_literals(folder: Path, topics: set[str], root: Path = REPO) -> tuple[Found, Found]:
    """(writes, mentions): topic -> files, over the non-test Python files under ``folder``."""
    writes: dict[str, set[str]] = {}
    mentions: dict[str, set[str]] = {}
    for py in sorted(folder.rglob("*.py")):
        if "tests" in py.relative_to(folder).parts:
            continue
        tree = ast.parse(py.read_text(), str(py))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        write_ids = {id(c) for n in ast.walk(tree) for v in _write_values(n) for c in ast.walk(v)}
        where = py.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in topics and id(node) not in docstrings:
                mentions.setdefault(node.value, set()).add(where)
                if id(node) in write_ids:
                    writes.setdefault(node.value, set()).add(where)
    return writes, mentions


def access_violations(catalog: Catalog, root: Path = REPO) -> list[str]:
    """Every way the code and the catalog's writers/readers disagree."""
    topics = set(catalog.names())
    errors = []
    for comp in catalog.components.values():
        folder = root / comp.code
        if not folder.is_dir():
            continue  # the component is not in this tree (yet)
        writes, mentions = topic_literals(folder, topics, root)
        may_write, may_read = set(catalog.written_by(comp.name)), set(catalog.read_by(comp.name))
        for topic, files in sorted(writes.items()):
            if topic not in may_write:
                errors.append(f"{comp.name} produces to {topic} ({', '.join(sorted(files))}) but is not a catalog "
                              "writer")
        for topic, files in sorted(mentions.items()):
            if topic not in may_write | may_read:
                errors.append(f"{comp.name} uses {topic} ({', '.join(sorted(files))}) but is neither writer nor reader")
        for topic in sorted(may_write - set(mentions)):
            errors.append(f"{comp.name} is a catalog writer of {topic} but its code ({comp.code}) never names it")
    return errors


def test_every_producer_in_the_code_is_a_declared_writer_of_what_it_writes() -> None:
    assert access_violations(load_catalog(Settings())) == []


def test_the_catalog_declares_what_the_code_does() -> None:
    """The writer/reader lists, derived from the code they describe rather than restated."""
    from lambdas.simulators.sources import REGISTRY
    from lambdas.simulators.truth import TRUTH_TOPIC

    cat = load_catalog(Settings())
    # the simulators write what their sources declare, plus the ground truth
    assert set(cat.written_by("simulators")) == {c.topic for c in REGISTRY.values() if c.topic} | {TRUTH_TOPIC}
    assert cat.read_by("console") == cat.names() and cat.written_by("console") == []  # the console shows all
    for name in ("bootstrap", "verify", "console"):
        assert cat.written_by(name) == [], name  # creates / reads only
    assert TRUTH_TOPIC in cat.read_by("verify")
    for comp in cat.components.values():  # each declared component is code in this tree
        assert (REPO / comp.code).is_dir(), f"{comp.name}: {comp.code} does not exist"
    spark_writes = set(cat.written_by("spark"))
    assert spark_writes and not spark_writes & set(cat.read_by("spark"))  # no job reads its own output


def _component(tmp_path: Path, body: str) -> Catalog:
    """A catalog with one topic written by `src` and read by `sink`, and `src`'s code = body."""
    (tmp_path / "s.avsc").write_text('{"type": "record", "name": "R", "fields": []}')
    (tmp_path / "topics.yaml").write_text(
        "components:\n  src: {code: src}\n  sink: {code: sink, groups: g}\n"
        "topics:\n"
        "  t_a: {partitions: 1, cleanup_policy: delete, key: k, schema: s.avsc, writers: [src], readers: [sink]}\n"
        "  t_b: {partitions: 1, cleanup_policy: delete, key: k, schema: s.avsc, writers: [sink], readers: [src]}\n"
    )
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "source.py").write_text(body)
    return parse_catalog(tmp_path / "topics.yaml")


def test_a_component_producing_to_an_undeclared_topic_fails(tmp_path: Path) -> None:
    ok = _component(tmp_path, 'TOPIC = "t_a"\nclass S:\n    """Reads t_b."""\n    source = "t_b"\n')
    assert access_violations(ok, tmp_path) == []
    bad = _component(tmp_path, 'def run(p):\n    p.produce("t_a", b"x")\n    p.produce("t_b", b"y")\n')
    assert access_violations(bad, tmp_path) == ["src produces to t_b (src/source.py) but is not a catalog writer"]
    sink_topic = _component(tmp_path, 'TOPIC = "t_a"\nDEAD_LETTER = "t_b"\n')
    assert access_violations(sink_topic, tmp_path) == [
        "src produces to t_b (src/source.py) but is not a catalog writer"
    ]


def test_a_stale_writer_declaration_fails(tmp_path: Path) -> None:
    cat = _component(tmp_path, 'print("nothing")\n')
    assert access_violations(cat, tmp_path) == ["src is a catalog writer of t_a but its code (src) never names it"]


def test_unknown_component_in_writers_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.avsc").write_text('{"type": "record", "name": "R", "fields": []}')
    (tmp_path / "topics.yaml").write_text(
        "components:\n  a: {code: a}\n"
        "topics:\n  t: {partitions: 1, cleanup_policy: delete, key: k, schema: s.avsc, writers: [a, gatway]}\n"
    )
    with pytest.raises(ConfigurationError, match="writers gatway not declared under 'components'"):
        parse_catalog(tmp_path / "topics.yaml")
