"""Every committed schema change must be BACKWARD compatible (the local registry does not enforce it)."""

from __future__ import annotations

import json
from pathlib import Path

from eventbus.compat import backward_problems, check_history

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_every_schema_is_backward_compatible_with_its_history() -> None:
    report = check_history(SCHEMAS)
    assert set(report) == {p.name for p in SCHEMAS.glob("*.avsc")}
    assert {k: v for k, v in report.items() if v} == {}


def _app_log() -> dict:
    return json.loads((SCHEMAS / "app_log.avsc").read_text())


def test_adding_an_optional_field_is_compatible() -> None:
    old = _app_log()
    new = _app_log()
    new["fields"].append({"name": "region", "type": ["null", "string"], "default": None})
    assert backward_problems(json.dumps(old), json.dumps(new)) == []


def test_adding_a_required_field_is_rejected() -> None:
    old = _app_log()
    new = _app_log()
    new["fields"].append({"name": "region", "type": "string"})
    assert backward_problems(json.dumps(old), json.dumps(new)) != []


def test_changing_a_field_type_is_rejected() -> None:
    old = _app_log()
    new = _app_log()
    for f in new["fields"]:
        if f["name"] == "service":
            f["type"] = "int"
    assert backward_problems(json.dumps(old), json.dumps(new)) != []


def test_removing_an_enum_symbol_without_default_is_rejected() -> None:
    old = _app_log()
    new = _app_log()
    for f in new["fields"]:
        if f["name"] == "level":
            f["type"]["symbols"] = ["DEBUG", "INFO", "WARN", "ERROR"]
    assert backward_problems(json.dumps(old), json.dumps(new)) != []
