"""Avro binary wire primitives, once: zig-zag varints, strings, bytes, floats (the Avro 1.11 spec).

Everything that writes Avro by hand uses these: the schema-compiled encoder (``avro_compiler``, which the
serde runs) and the CDC relay's one-pass transcoder. Each returns the exact bytes fastavro writes.

    >>> L(0), L(-1), L(64), S("hé")
    (b'\\x00', b'\\x01', b'\\x80\\x01', b'\\x06h\\xc3\\xa9')
"""

from __future__ import annotations

import struct

DOUBLE = struct.Struct("<d").pack
FLOAT = struct.Struct("<f").pack
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1


def _varint(z: int) -> bytes:
    """Base-128 little-endian varint of a non-negative integer."""
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


#: L(n) for -64 <= n < 16384, precomputed: lengths, counts and small numbers are nearly all of them.
_SMALL = [_varint((n << 1) ^ (n >> 63)) for n in range(-64, 16384)]
#: LENGTHS[n] == L(n) for 0 <= n < 16384 (string lengths, map counts, ordinals).
LENGTHS = _SMALL[64:]
#: The first two varint bytes of any zig-zag value >= 2**14 (both with the continuation bit).
_LOW2 = [bytes(((z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80)) for z in range(1 << 14)]
_VAR14 = [_varint(z) for z in range(1 << 14)]  # varints of every zig-zag value < 2**14
_HIGH: dict[int, bytes] = {}  # varint of (zigzag >> 14): timestamps share it for seconds at a time
_STRINGS: dict[str, bytes] = {}  # encoded strings: ids, pages, locales… repeat across records
_STRING_CACHE_MAX = 300_000  # ~30 MB at most


def L(n: int) -> bytes:
    """Avro int/long: zig-zag varint. ``OverflowError`` outside 64 bits (not an Avro long)."""
    if -64 <= n < 16384:
        return _SMALL[n + 64]
    z = (n << 1) ^ (n >> 63)
    hi = z >> 14
    if not hi:
        return _VAR14[z]
    tail = _HIGH.get(hi)
    if tail is None:
        # Checked only here (never for a cached tail, which only in-range values reach): an int outside
        # 64 bits is not an Avro long. Callers fall back to fastavro (another union branch) or refuse it.
        if not LONG_MIN <= n <= LONG_MAX:
            raise OverflowError(f"{n} does not fit an Avro long")
        if len(_HIGH) > 4096:
            _HIGH.clear()
        tail = _HIGH[hi] = _varint(hi)
    return _LOW2[z & 0x3FFF] + tail


def S(s: str) -> bytes:
    """Avro string: length + UTF-8 (cached: most strings in a stream repeat)."""
    b = _STRINGS.get(s)
    return b if b is not None else SN(s)


def SN(s: str) -> bytes:
    """A cache miss: encode and remember."""
    b = SU(s)
    if len(_STRINGS) >= _STRING_CACHE_MAX:
        _STRINGS.clear()  # a rare value would fill it: start over, the repeating ones come back fast
    _STRINGS[s] = b
    return b


def SU(s: str) -> bytes:
    """A string that is unique per record (ids, messages): not worth a cache slot."""
    e = s.encode()
    n = len(e)
    return (LENGTHS[n] if n < 16384 else L(n)) + e


def B(b: bytes) -> bytes:
    """Avro bytes: length + raw."""
    n = len(b)
    return (LENGTHS[n] if n < 16384 else L(n)) + bytes(b)


def BOOL(v: bool) -> bytes:
    """Avro boolean (only ``True``/``False``: 1 is not a boolean)."""
    if v is True:
        return b"\x01"
    if v is False:
        return b"\x00"
    raise TypeError(f"expected a boolean, got {type(v).__name__}")


string_cache_get = _STRINGS.get
