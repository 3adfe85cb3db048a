"""PostgreSQL type OIDs -> the envelope's value types.

pgoutput sends column values in the type's text output form. The envelope's row maps hold
``null | boolean | long | double | string`` and follow Debezium's conventions:

* integers -> long, float4/float8 -> double (``NaN``/``Infinity`` included), bool -> boolean;
* numeric/money -> string, exactly as PostgreSQL printed it (``decimal.handling.mode=string``);
* timestamptz -> ISO-8601 in UTC (``2024-05-01T10:00:00.123456Z``), timestamp -> ISO-8601 without
  zone, date -> ``YYYY-MM-DD``; ``infinity``/BC values pass through as PostgreSQL prints them;
* bytea -> lowercase hex without the ``\\x`` prefix (``binary.handling.mode=hex``);
* everything else (text, uuid, json, enums, arrays, intervals, domains...) -> the text form.

The relay connects with ``TimeZone=UTC`` and ``DateStyle=ISO`` so the text forms are stable.

    >>> converter_for(INT8)("42")
    42
    >>> converter_for(TIMESTAMPTZ)("2024-05-01 10:00:00.5+00")
    '2024-05-01T10:00:00.5Z'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Converter = Callable[[str], Any]

BOOL, BYTEA, INT8, INT2, INT4, OID = 16, 17, 20, 21, 23, 26
XID, CID = 28, 29
FLOAT4, FLOAT8 = 700, 701
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, TIMETZ = 1082, 1083, 1114, 1184, 1266
NUMERIC, MONEY = 1700, 790

_BOOLS = {"t": True, "f": False, "true": True, "false": False}


def _bool(text: str) -> bool:
    # 't'/'f' from pgoutput (boolout); 'true'/'false' from a ::text cast in the snapshot.
    return _BOOLS[text]


def _timestamptz(text: str) -> str:
    if len(text) < 19 or text[4] != "-" or text.endswith(" BC"):
        return text  # infinity, -infinity, 5-digit or BC years: leave as PostgreSQL printed them
    if text.endswith("+00"):
        return text[:10] + "T" + text[11:-3] + "Z"
    # Another session zone: "+05:30" stays, "+07" becomes "+07:00" (ISO-8601 needs the minutes).
    cut = max(text.rfind("+", 19), text.rfind("-", 19))
    zone = text[cut:] if cut > 0 else ""
    if len(zone) == 3:
        zone += ":00"
    return text[:10] + "T" + text[11:cut if cut > 0 else None] + zone


def _timestamp(text: str) -> str:
    if len(text) < 19 or text[4] != "-" or text.endswith(" BC"):
        return text
    return text[:10] + "T" + text[11:]


def _timetz(text: str) -> str:
    return text[:-3] + "Z" if text.endswith("+00") else text


def _bytea(text: str) -> str:
    return text[2:] if text.startswith("\\x") else text


_CONVERTERS: dict[int, Converter] = {
    BOOL: _bool,
    INT2: int,
    INT4: int,
    INT8: int,
    OID: int,
    XID: int,
    CID: int,
    FLOAT4: float,
    FLOAT8: float,
    TIMESTAMPTZ: _timestamptz,
    TIMESTAMP: _timestamp,
    TIMETZ: _timetz,
    BYTEA: _bytea,
}


def converter_for(type_oid: int) -> Converter | None:
    """The text -> value function for ``type_oid``; ``None`` means "keep the text as is"."""
    return _CONVERTERS.get(type_oid)


def convert(type_oid: int, text: str | None) -> Any:
    """Convert one text value (``None`` stays ``None``)."""
    if text is None:
        return None
    conv = _CONVERTERS.get(type_oid)
    return text if conv is None else conv(text)
