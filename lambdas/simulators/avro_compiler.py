"""A schema-compiled Avro encoder: about twice as fast as ``fastavro.schemaless_writer`` per record.

``fastavro`` walks the schema for every record; this module walks it once and generates a Python
function that writes exactly the bytes fastavro writes (tests prove byte equality on every source's
records). It is the simulators' hot path at 100k+ events/s; everything else (headers, registry,
validation, decoding) stays in ``eventbus.serde``. When a record does not fit the compiled encoder
(wrong type, datetime instead of epoch millis, …) the caller falls back to ``AvroSerde.encode``, which
raises ``SchemaValidationError`` naming the field.

TODO(eventbus): this is serde logic; it belongs in ``eventbus.serde`` as ``AvroSerde.compiled(topic)``.

    >>> import json
    >>> from lambdas.simulators.avro_compiler import compile_encoder
    >>> enc = compile_encoder(json.load(open("schemas/app_log.avsc")))
    >>> body = enc(record)          # Avro binary body, schemaless
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_DOUBLE = struct.Struct("<d").pack
_FLOAT = struct.Struct("<f").pack


def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [_zigzag(n) for n in range(-64, 8192)]


def L(n: int) -> bytes:
    """Avro int/long: zig-zag varint."""
    if -64 <= n < 8192:
        return _SMALL[n + 64]
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def S(s: str) -> bytes:
    """Avro string: length + UTF-8."""
    b = s.encode()
    n = len(b)
    return (_SMALL[n + 64] if n < 8192 else L(n)) + b


def B(b: bytes) -> bytes:
    """Avro bytes: length + raw."""
    n = len(b)
    return (_SMALL[n + 64] if n < 8192 else L(n)) + bytes(b)


def _bool(v: bool) -> bytes:
    if v is True:
        return b"\x01"
    if v is False:
        return b"\x00"
    raise TypeError(f"expected a boolean, got {type(v).__name__}")


class _Compiler:
    def __init__(self) -> None:
        self.named: dict[str, Any] = {}
        self.env: dict[str, Any] = {"L": L, "S": S, "B": B, "D": _DOUBLE, "F": _FLOAT, "BOOL": _bool}
        self.defs: list[str] = []
        self.counter = 0

    def _name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _full(self, schema: dict[str, Any], namespace: str | None) -> tuple[str, str | None]:
        name = schema["name"]
        ns = schema.get("namespace", namespace)
        if "." in name:
            return name, name.rsplit(".", 1)[0]
        return (f"{ns}.{name}" if ns else name), ns

    def fn(self, schema: Any, namespace: str | None) -> str:
        """Name of a generated function ``f(value) -> bytes`` for ``schema``."""
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return {"null": "(lambda v: b'')", "boolean": "BOOL", "int": "L", "long": "L", "float": "F",
                        "double": "D", "bytes": "B", "string": "S"}[schema]
            key = schema if schema in self.named or not namespace else f"{namespace}.{schema}"
            return self.named.get(key) or self.named[schema]
        if isinstance(schema, list):
            return self._union(schema, namespace)
        kind = schema["type"]
        if kind in _PRIMITIVES:
            return self.fn(kind, namespace)  # logical types ride on their primitive (epoch millis)
        if kind == "record":
            return self._record(schema, namespace)
        if kind == "enum":
            full, _ = self._full(schema, namespace)
            table = {sym: L(i) for i, sym in enumerate(schema["symbols"])}
            name = self._name("E")
            self.env[name + "_T"] = table
            self.defs.append(f"def {name}(v):\n    return {name}_T[v]\n")
            self.named[full] = name
            return name
        if kind == "fixed":
            full, _ = self._full(schema, namespace)
            name = self._name("X")
            self.defs.append(f"def {name}(v):\n    if len(v) != {schema['size']}:\n"
                             f"        raise ValueError('fixed of size {schema['size']}')\n    return bytes(v)\n")
            self.named[full] = name
            return name
        if kind == "array":
            item = self.fn(schema["items"], namespace)
            name = self._name("A")
            self.defs.append(f"def {name}(v):\n    if not v:\n        return b'\\x00'\n"
                             f"    return L(len(v)) + b''.join([{item}(x) for x in v]) + b'\\x00'\n")
            return name
        if kind == "map":
            value = self.fn(schema["values"], namespace)
            name = self._name("M")
            self.defs.append(f"def {name}(v):\n    if not v:\n        return b'\\x00'\n"
                             f"    return L(len(v)) + b''.join([S(k) + {value}(x) for k, x in v.items()]) + b'\\x00'\n")
            return name
        raise ValueError(f"unsupported Avro type {kind!r}")

    def _union(self, branches: list[Any], namespace: str | None) -> str:
        name = self._name("U")
        if len(branches) == 2 and "null" in branches:
            null_at = branches.index("null")
            other = self.fn(branches[1 - null_at], namespace)
            n, o = L(null_at), L(1 - null_at)
            self.defs.append(f"def {name}(v):\n    return {n!r} if v is None else {o!r} + {other}(v)\n")
            return name
        # General union: dispatch on the Python type, in the order fastavro would pick a branch.
        checks = []
        for i, branch in enumerate(branches):
            kind = branch if isinstance(branch, str) else branch["type"] if isinstance(branch, dict) else "union"
            f = self.fn(branch, namespace)
            test = {
                "null": "v is None", "boolean": "v is True or v is False",
                "int": "type(v) is int", "long": "type(v) is int",
                "float": "type(v) is float", "double": "type(v) is float or type(v) is int",
                "string": "type(v) is str", "bytes": "type(v) is bytes",
                "map": "type(v) is dict", "record": "type(v) is dict", "array": "type(v) is list",
                "enum": "type(v) is str",
            }.get(kind, "False")
            checks.append(f"    if {test}:\n        return {L(i)!r} + {f}(v)\n")
        self.defs.append(f"def {name}(v):\n{''.join(checks)}    raise TypeError(f'no union branch for {{v!r}}')\n")
        return name

    def _record(self, schema: dict[str, Any], namespace: str | None, prefix: bytes = b"") -> str:
        full, ns = self._full(schema, namespace)
        name = self._name("R")
        self.named[full] = name
        parts = [repr(prefix)] if prefix else []
        for f in schema["fields"]:
            enc = self.fn(f["type"], ns)
            fname = f["name"]
            value = f"r.get({fname!r}, {name}_D{len(parts)})" if "default" in f else f"r[{fname!r}]"
            if "default" in f:
                self.env[f"{name}_D{len(parts)}"] = f["default"]
            parts.append(f"{enc}({value})")
        body = ", ".join(parts) + ("," if len(parts) == 1 else "")
        self.defs.append(f"def {name}(r):\n    return b''.join(({body}))\n")
        return name

    def top(self, schema: dict[str, Any], prefix: bytes) -> Callable[[dict[str, Any]], bytes]:
        name = self._record(schema, None, prefix)
        source = "\n".join(self.defs)
        exec(compile(source, f"<avro encoder {schema.get('name')}>", "exec"), self.env)
        fn: Callable[[dict[str, Any]], bytes] = self.env[name]
        fn.__doc__ = source  # the generated code, for debugging
        return fn


def compile_encoder(schema: dict[str, Any], prefix: bytes = b"") -> Callable[[dict[str, Any]], bytes]:
    """A function ``record -> prefix + Avro body`` for a record schema (the JSON, not fastavro-parsed).

    Timestamps must be epoch millis (ints); anything else raises and the caller uses the slow path.
    """
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ValueError("compile_encoder needs a record schema")
    return _Compiler().top(schema, prefix)
