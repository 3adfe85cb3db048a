"""Event and request ids without a syscall per id.

``uuid.uuid4()`` reads ``os.urandom`` each time — a getrandom() syscall that costs several µs in this
VM, twice per request. Ids only need to be unique, not unpredictable, so a per-process PRNG seeded
from ``os.urandom`` (re-seeded after a fork) makes the same RFC 4122 version-4 UUIDs.

    >>> import uuid; uuid.UUID(new_event_id()).version
    4
"""

from __future__ import annotations

import os
import random

_rng = random.Random(os.urandom(32))
_pid = os.getpid()


def _generator() -> random.Random:
    global _rng, _pid
    if os.getpid() != _pid:  # forked: never share a sequence with the parent
        _rng, _pid = random.Random(os.urandom(32)), os.getpid()
    return _rng


def new_event_id() -> str:
    """A random (version 4, RFC 4122 variant) UUID string."""
    h = f"{_generator().getrandbits(128):032x}"
    # Set the version nibble to 4 and the variant bits to 10xx, as uuid.UUID(..., version=4) does.
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def new_request_id() -> str:
    return f"{_generator().getrandbits(64):016x}"
