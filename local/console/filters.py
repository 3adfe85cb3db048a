"""Filters and cursors of the messages page and ``peek``, checked against the topic's Avro schema.

    >>> spec = catalog.get("topic_cdc_changes")
    >>> flt = parse_filter(spec, key="/^public\\.bookings:/", where="after.status=confirmed")
    >>> flt.key_matches("public.bookings:bk-1"), flt.value_matches({"after": {"status": "confirmed"}})
    (True, True)
    >>> parse_cursor("0:120,1:98")
    {0: 120, 1: 98}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from local.console.exceptions import BadInputError

MAX_FILTER_LEN = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Filter:
    """Key filter (exact, or ``/regex/``) and/or a ``field.path=value`` filter on the decoded record."""

    key: str | None = None
    key_regex: re.Pattern[str] | None = None
    path: tuple[str, ...] = ()
    value: str | None = None
    #: The field holds strings (Avro writes them as raw UTF-8, unlike enums and numbers).
    textual: bool = False

    @property
    def empty(self) -> bool:
        return self.key is None and self.key_regex is None and not self.path

    def raw_hint(self) -> bytes | None:
        """Bytes a matching record's value must contain (cheap pre-filter before decoding)."""
        if self.textual and self.value not in (None, "", "null", "true", "false") and not _numeric(self.value):
            return str(self.value).encode()
        return None

    def key_matches(self, key: str | None) -> bool:
        if self.key is not None:
            return key == self.key
        if self.key_regex is not None:
            return key is not None and self.key_regex.search(key) is not None
        return True

    def value_matches(self, record: dict[str, Any] | None) -> bool:
        if not self.path:
            return True
        got: Any = record
        for part in self.path:
            if not isinstance(got, dict) or part not in got:
                return False
            got = got[part]
        return _text(got) == self.value


def _numeric(text: str | None) -> bool:
    try:
        float(text or "")
        return True
    except ValueError:
        return False


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_filter(spec: Any, key: str | None = None, where: str | None = None) -> Filter:
    """Check the filters against the topic's schema; ``BadInputError`` says what is wrong."""
    out: dict[str, Any] = {}
    if key is not None:
        if not key or len(key) > MAX_FILTER_LEN or _CONTROL.search(key):
            raise BadInputError(f"malformed key filter {key[:40]!r}: give 1-{MAX_FILTER_LEN} printable characters "
                                "(an exact key, or /regex/)")
        if len(key) >= 2 and key.startswith("/") and key.endswith("/"):
            try:
                out["key_regex"] = re.compile(key[1:-1])
            except re.error as exc:
                raise BadInputError(f"malformed key filter {key!r}: not a valid regular expression ({exc})") from None
        else:
            out["key"] = key
    if where is not None:
        name, sep, value = where.partition("=")
        path = tuple(p for p in name.strip().split(".") if p)
        if not sep or not path or len(where) > MAX_FILTER_LEN or _CONTROL.search(where):
            raise BadInputError(f"malformed field filter {where[:40]!r}: expected FIELD=VALUE, e.g. event_type=search "
                                "or after.status=confirmed")
        fields = [f["name"] for f in spec.schema["fields"]]
        if path[0] not in fields:
            raise BadInputError(f"unknown field {path[0]!r} in {spec.name} (fields: {', '.join(fields)})")
        field_type = next(f["type"] for f in spec.schema["fields"] if f["name"] == path[0])
        out.update(path=path, value=value.strip(), textual=_holds_strings(field_type, path[1:]))
    return Filter(**out)


def _branches(t: Any) -> list[Any]:
    return [b for b in (t if isinstance(t, list) else [t]) if b != "null"]


def _holds_strings(t: Any, rest: tuple[str, ...]) -> bool:
    """Whether the value at ``rest`` inside Avro type ``t`` can be a string (not an enum/number only)."""
    for part in rest:
        nxt = []
        for b in _branches(t):
            if isinstance(b, dict) and b.get("type") == "map":
                nxt.append(b["values"])
            elif isinstance(b, dict) and b.get("type") == "record":
                nxt += [f["type"] for f in b["fields"] if f["name"] == part]
        if not nxt:
            return False
        t = [x for n in nxt for x in _branches(n)]
    return any(b == "string" or (isinstance(b, dict) and b.get("type") == "string") for b in _branches(t))


def parse_cursor(text: str | None) -> dict[int, int] | None:
    """``"0:120,1:98"`` (partition:offset, exclusive upper bounds) -> {0: 120, 1: 98}."""
    if not text:
        return None
    try:
        pairs = (item.split(":") for item in text.split(","))
        cursor = {int(p): int(o) for p, o in pairs}
    except ValueError:
        raise BadInputError(f"malformed cursor {text[:40]!r}: expected PARTITION:OFFSET[,PARTITION:OFFSET...] "
                            "(take it from the previous page's 'cursor')") from None
    if any(o < 0 or p < 0 for p, o in cursor.items()):
        raise BadInputError(f"malformed cursor {text[:40]!r}: offsets are not negative")
    return cursor


def format_cursor(cursor: dict[int, int]) -> str:
    return ",".join(f"{p}:{o}" for p, o in sorted(cursor.items()))
