"""Replay mode: the fastest realistic stream — a pool of generated records, re-emitted with fresh
identities and timestamps, straight as Avro bytes.

Live generation costs tens of microseconds of Python per event (a journey, a dict, an encoding). For
load tests beyond what one core generates live, ``kafka.replay_pool: N`` makes each Kafka source build
N records up front (the same generator, same seed) and pre-encode them as byte *segments* split
around the fields that must change on every emission:

* ``fresh`` ids (``event_id``, ``click_id``, ``log_id``, …) get new random values;
* ``per_pass`` ids (``session_id``, ``booking_id``) get a ``-<pass>`` suffix on the pool's 2nd, 3rd…
  pass, so a replayed session is a new session (its events still share one id) and ids never repeat;
* timestamps come from the schedule; other time fields keep their offset to the event time.

So the content keeps the live generator's distributions (journeys, levels, weather…) while emitting is
a ``join`` of a few segments. The pass-0 records equal the live ones except for fresh ids and times.
Not for joins with PostgreSQL (the OLTP workload does not see replayed bookings) and not hashed.

    >>> pool = ReplayPool(source, header, size=20_000)
    >>> pool.take([ts, ...])      # [(key, avro bytes), ...]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from eventbus.avro_compiler import L, S, compile_encoder
from lambdas.simulators.world import uuid4_of

_MARK = "\x00replay-slot-{}\x00"


@dataclass(frozen=True)
class ReplaySpec:
    """Which fields of a source's records change on every emission."""

    fresh: tuple[str, ...] = ()  # new random id per emission (uuid for *event_id*, hex otherwise)
    per_pass: tuple[str, ...] = ()  # suffixed per pass of the pool (nullable fields may be None)
    time: str = ""  # the event-time field: set from the schedule
    offsets: tuple[str, ...] = ()  # other time fields: keep their offset to ``time``
    hour: tuple[str, ...] = ()  # hour-aligned time fields (data intervals): floor(time) + offset
    key: str = ""  # the Kafka key's field when it is one of ``per_pass`` (else the key is kept)
    uuid: tuple[str, ...] = field(default=("event_id",))


@dataclass
class _Template:
    segments: list[bytes]
    slots: list[tuple[str, Any]]  # (kind, payload) between segments
    key: str


class ReplayPool:
    def __init__(self, source: Any, schema_text: str, header: bytes, size: int, start_ms: int) -> None:
        spec: ReplaySpec = source.replay
        self.spec = spec
        self.rng = source.rng
        encode = compile_encoder(json.loads(schema_text), header)
        step = max(1, 3_600_000 // max(1, size))  # spread the pool's event times over an hour
        records = source.generate([start_ms + i * step for i in range(size)])
        self.templates = [self._split(encode, key, rec) for key, rec in records]
        self.pos = 0
        self.passes = 0

    def _split(self, encode: Any, key: str, rec: dict[str, Any]) -> _Template:
        spec = self.spec
        marked = dict(rec)
        slots: dict[str, tuple[str, Any]] = {}
        t0 = rec[spec.time]
        for i, name in enumerate((*spec.fresh, *spec.per_pass, spec.time, *spec.offsets, *spec.hour)):
            value = rec.get(name)
            if value is None:
                continue
            mark = _MARK.format(i)
            if name in spec.fresh:
                prefix = value.rsplit("-", 1)[0] + "-" if "-" in value else ""
                width = len(value) - len(prefix)
                slots[mark] = ("uuid", None) if name in spec.uuid else ("hex", (prefix + f"%0{width}x", 4 * width))
            elif name in spec.per_pass:
                slots[mark] = ("suffix", value)
            elif name == spec.time:
                slots[mark] = ("time", 0)
            elif name in spec.offsets:
                slots[mark] = ("time", value - t0)
            else:
                slots[mark] = ("hour", value - (t0 - t0 % 3_600_000))
            marked[name] = mark if not isinstance(value, int) else 0x7FFF_0000_0000_0000 + i
        data = encode(marked)
        pieces: list[tuple[int, bytes, str]] = []
        for i, name in enumerate((*spec.fresh, *spec.per_pass, spec.time, *spec.offsets, *spec.hour)):
            mark = _MARK.format(i)
            if mark not in slots:
                continue
            token = S(mark) if isinstance(marked[name], str) else L(marked[name])
            at = data.find(token)
            if at < 0 or data.find(token, at + 1) >= 0:
                raise ValueError(f"cannot place {name} in the encoded record")  # never for the shipped schemas
            pieces.append((at, token, mark))
        pieces.sort()
        segments, kinds, pos = [], [], 0
        for at, token, mark in pieces:
            segments.append(data[pos:at])
            kinds.append(slots[mark])
            pos = at + len(token)
        segments.append(data[pos:])
        return _Template(segments, kinds, rec[spec.key] if spec.key else key)

    def take(self, timestamps: list[int]) -> list[tuple[str, bytes]]:
        out = []
        templates, n = self.templates, len(self.templates)
        bits = self.rng.getrandbits
        suffix = f"-{self.passes:x}" if self.passes else ""
        for ts in timestamps:
            t = templates[self.pos]
            self.pos += 1
            if self.pos == n:
                self.pos = 0
                self.passes += 1
                suffix = f"-{self.passes:x}"
            segs = t.segments
            parts = [segs[0]]
            for i, (kind, payload) in enumerate(t.slots):
                if kind == "time":
                    parts.append(L(ts + payload))
                elif kind == "suffix":
                    parts.append(S(payload + suffix))
                elif kind == "uuid":
                    parts.append(S(uuid4_of(bits(128))))
                elif kind == "hex":
                    fmt, nbits = payload
                    parts.append(S(fmt % bits(nbits)))
                else:
                    parts.append(L(ts - ts % 3_600_000 + payload))
                parts.append(segs[i + 1])
            out.append((t.key + suffix if self.spec.key else t.key, b"".join(parts)))
        return out
