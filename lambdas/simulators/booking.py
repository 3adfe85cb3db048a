"""Bookings and their lifecycle: the one place that says which state changes are legal.

A booking is born in a mobile or web journey (or in the back office) and handed to the OLTP workload,
which writes it as the application would. What happens to it afterwards is a pure function of its
``booking_id`` (``plan_for``), so every process — and a later run resuming open bookings — agrees::

    >>> from lambdas.simulators.booking import plan_for
    >>> plan_for("bk-0123456789abcdef") == plan_for("bk-0123456789abcdef")
    True

State machines (``BOOKING_MOVES`` / ``PAYMENT_MOVES``)::

    booking  pending -> confirmed -> completed        payment  authorized -> captured -> refunded
             pending -> cancelled                              authorized -> failed | voided
             confirmed -> cancelled
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

BOOKING_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({"pending"}),
    "pending": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"cancelled", "completed"}),
    "cancelled": frozenset(),
    "completed": frozenset(),
}
PAYMENT_MOVES: dict[str | None, frozenset[str]] = {
    None: frozenset({"authorized"}),
    "authorized": frozenset({"captured", "failed", "voided"}),
    "captured": frozenset({"refunded"}),
    "refunded": frozenset(),
    "failed": frozenset(),
    "voided": frozenset(),
}

#: Each lifecycle operation: (booking from, booking to), (payment from, payment to).
OPERATIONS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "confirm": (("pending", "confirmed"), ("authorized", "captured")),
    "fail_payment": (("pending", "cancelled"), ("authorized", "failed")),
    "cancel_pending": (("pending", "cancelled"), ("authorized", "voided")),
    "cancel_confirmed": (("confirmed", "cancelled"), ("captured", "refunded")),
    "complete": (("confirmed", "completed"), ("captured", "captured")),
}

PAYMENT_METHODS = ("card", "wallet", "bank_transfer", "cash")
PAYMENT_METHOD_WEIGHTS = (46, 34, 15, 5)


def legal(moves: dict[str | None, frozenset[str]], before: str | None, after: str) -> bool:
    """Whether ``before -> after`` is allowed (a no-op ``x -> x`` is allowed)."""
    return before == after or after in moves.get(before, frozenset())


for _op, ((_b0, _b1), (_p0, _p1)) in OPERATIONS.items():  # the table must obey the state machines
    assert legal(BOOKING_MOVES, _b0, _b1) and legal(PAYMENT_MOVES, _p0, _p1), _op


@dataclass(slots=True)
class Booking:
    booking_id: str
    payment_id: str
    user_id: str
    session_id: str | None
    hotel_id: str
    destination: str
    check_in: date
    check_out: date
    guests: int
    amount: float  # VND, 2 decimals
    currency: str
    method: str
    created_ms: int  # simulated time the booking was made
    channel: str  # mobile / web / back_office


@dataclass(frozen=True, slots=True)
class Step:
    after_s: float  # seconds after the booking was made (simulated time)
    op: str


@dataclass(frozen=True, slots=True)
class Plan:
    outcome: str
    steps: tuple[Step, ...]


def plan_for(booking_id: str, time_scale: float = 1.0) -> Plan:
    """The lifecycle of ``booking_id``. ``time_scale`` < 1 compresses the delays (e.g. 0.01 in tests).

    Outcomes: ~72% completed, ~12% cancelled after confirmation (refunded), ~10% cancelled while pending
    (authorisation voided), ~6% payment failed. Delays are seconds to minutes: a stay is compressed so
    the whole lifecycle shows up in a short run.
    """
    rng = random.Random(f"plan:{booking_id}")
    r = rng.random()
    confirm_after = rng.uniform(2.0, 20.0) * time_scale
    if r < 0.06:
        return Plan("payment_failed", (Step(rng.uniform(1.0, 8.0) * time_scale, "fail_payment"),))
    if r < 0.16:
        return Plan("cancelled_pending", (Step(rng.uniform(1.0, 30.0) * time_scale, "cancel_pending"),))
    final_after = confirm_after + rng.uniform(30.0, 240.0) * time_scale
    if r < 0.28:
        return Plan("cancelled_after_confirm",
                    (Step(confirm_after, "confirm"), Step(final_after, "cancel_confirmed")))
    return Plan("completed", (Step(confirm_after, "confirm"), Step(final_after, "complete")))


def remaining_steps(plan: Plan, booking_status: str, payment_status: str | None) -> tuple[Step, ...]:
    """The steps of ``plan`` still to run for a booking found in the given state (resume after restart)."""
    out = []
    booking, payment = booking_status, payment_status
    for step in plan.steps:
        (b0, b1), (p0, p1) = OPERATIONS[step.op]
        if booking == b0 and payment == p0:
            out.append(step)
            booking, payment = b1, p1
    return tuple(out)
