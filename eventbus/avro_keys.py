"""Keys of a record that are not fields of its Avro schema — which fastavro ignores when it writes.

fastavro writes a record by reading its schema's fields and drops every other key, so a mistyped key
(``userId`` for ``user_id``) vanished and the real field was written as its default or null. The serde
refuses such records; this module finds the key, at any depth, and says which field was meant.

    >>> keys = StrayKeys(json.load(open("schemas/app_log.avsc")))
    >>> keys.find({"userId": "u-1", ...})
    ('userId', "not a field of AppLog — did you mean 'user_id'?")
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any


class StrayKeys:
    """Built once per schema: each record's field names, and which of its fields can hold a record."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.named: dict[str, Any] = {}
        self._collect(schema, None)
        self.root = schema
        # id(record schema) -> (name, {field: type}, fields that can hold a record)
        self._plans: dict[int, tuple[str, dict[str, Any], tuple[tuple[str, Any], ...]]] = {}

    def find(self, record: Any) -> tuple[str, str] | None:
        """(dotted path, reason) of the first key that is not a field, else None."""
        return self._walk(self.root, record)

    # -- schema --------------------------------------------------------------------------------------------
    def _collect(self, schema: Any, ns: str | None) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, ns)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind == "record":
                name = schema["name"]
                ns = name.rsplit(".", 1)[0] if "." in name else schema.get("namespace", ns)
                self.named[f"{ns}.{name}" if ns and "." not in name else name] = schema
                self.named.setdefault(name.rsplit(".", 1)[-1], schema)
                for f in schema["fields"]:
                    self._collect(f["type"], ns)
            elif kind in ("array", "map"):
                self._collect(schema["items" if kind == "array" else "values"], ns)
            elif isinstance(kind, dict | list):
                self._collect(kind, ns)

    def _resolve(self, schema: Any) -> Any:
        return self.named.get(schema, schema) if isinstance(schema, str) else schema

    def _holds_record(self, schema: Any, seen: frozenset[int] = frozenset()) -> bool:
        schema = self._resolve(schema)
        if isinstance(schema, list):
            return any(self._holds_record(b, seen) for b in schema)
        if not isinstance(schema, dict) or id(schema) in seen:
            return False
        kind = schema.get("type")
        if kind == "record":
            return True
        if kind in ("array", "map"):
            return self._holds_record(schema["items" if kind == "array" else "values"], seen | {id(schema)})
        return isinstance(kind, dict | list) and self._holds_record(kind, seen)

    def _plan(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any], tuple[tuple[str, Any], ...]]:
        plan = self._plans.get(id(schema))
        if plan is None:
            fields = {f["name"]: f["type"] for f in schema["fields"]}
            nested = tuple((n, t) for n, t in fields.items() if self._holds_record(t))
            plan = self._plans[id(schema)] = (schema["name"], fields, nested)
        return plan

    # -- data ----------------------------------------------------------------------------------------------
    def _walk(self, schema: Any, datum: Any) -> tuple[str, str] | None:
        schema = self._resolve(schema)
        if isinstance(schema, list):  # a union: the datum fits when a record (or map) branch takes its keys
            if not isinstance(datum, Mapping):
                return None
            first = None
            for branch in map(self._resolve, schema):
                kind = branch.get("type") if isinstance(branch, dict) else None
                if kind == "map":
                    return self._walk(branch, datum)
                if kind == "record":
                    found = self._walk(branch, datum)
                    if found is None:
                        return None
                    first = first or found
            return first
        if not isinstance(schema, dict):
            return None
        kind = schema.get("type")
        if kind == "record":
            if not isinstance(datum, Mapping):
                return None  # a type error: fastavro's validate names it
            name, fields, nested = self._plan(schema)
            for key in datum:
                if key not in fields:
                    close = difflib.get_close_matches(str(key), list(fields), n=1)
                    hint = f"did you mean {close[0]!r}?" if close else f"its fields are {', '.join(fields)}"
                    return str(key), f"not a field of {name} — {hint}"
            for field, ftype in nested:
                if field in datum:
                    found = self._walk(ftype, datum[field])
                    if found:
                        return f"{field}.{found[0]}", found[1]
        elif kind == "array" and isinstance(datum, list):
            for i, item in enumerate(datum):
                found = self._walk(schema["items"], item)
                if found:
                    return f"{i}.{found[0]}", found[1]
        elif kind == "map" and isinstance(datum, Mapping):
            for k, value in datum.items():
                found = self._walk(schema["values"], value)
                if found:
                    return f"{k}.{found[0]}", found[1]
        elif isinstance(kind, dict | list):
            return self._walk(kind, datum)
        return None
