"""User journeys as state machines: the engine shared by the mobile and web sources.

A journey is a walk over a flow table (``state -> ((next, probability), …)``) in which every state
appends AppEvents. A session is a pure function of ``(seed, kind, stream, j)``, so the clickstream and
app-log sources can rebuild session ``j`` and describe the same user, device and pages without talking
to the journey source. Steps that change the application's database carry an *action* (a signup or a
booking) which the journey source hands to the OLTP workload before it emits the event.

    >>> from lambdas.simulators.world import World
    >>> from lambdas.simulators.sources.mobile import MOBILE
    >>> s = MOBILE.build(World(seed=1, users=50), stream=0, j=0, now_ms=1_700_000_000_000)
    >>> s.events[0].record["event_type"]
    'app_open'
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from lambdas.simulators import booking as bk
from lambdas.simulators.places import SEGMENT_PRICE, Hotel
from lambdas.simulators.world import Device, User, Weighted, World, uuid4_of

Action = tuple[str, Any]  # ("signup", User) | ("booking", Booking)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_METHOD = Weighted(bk.PAYMENT_METHODS, bk.PAYMENT_METHOD_WEIGHTS)
_FILTERS = (("price_max", ("1000000", "2000000", "3500000", "6000000")), ("stars", ("3", "4", "5")),
            ("amenities", ("pool", "breakfast", "free_cancellation", "beachfront", "airport_shuttle")),
            ("sort", ("price_asc", "rating_desc", "distance")), ("property_type", ("hotel", "resort", "homestay")))


@dataclass(slots=True)
class Emit:
    """One event of a session, complete except for its timestamps (set when it is emitted)."""

    record: dict[str, Any]
    action: Action | None = None


@dataclass(slots=True)
class Session:
    kind: str
    j: int
    session_id: str
    user: User
    device: Device
    events: list[Emit] = field(default_factory=list)
    pos: int = 0
    logged_in: bool = False
    anonymous: bool = False  # a web visitor who never identified (clickstream user_id is null)
    booking: bk.Booking | None = None
    failed: str | None = None  # booking_id whose creation failed: later events about it are skipped


class Journey:
    """Context of one session while its flow is walked: the events built so far and the choices made."""

    def __init__(self, world: World, rng: random.Random, session: Session, now_ms: int, platform: str,
                 light: bool = False) -> None:
        self.world, self.rng, self.s, self.now_ms, self.platform = world, rng, session, now_ms, platform
        self.light = light
        dev, user = session.device, session.user
        self._fixed = (user.user_id, session.session_id, platform, dev.device_id, dev.app_version, user.locale,
                       dev.ip, dev.user_agent)
        self._day: date | None = None
        self.page: str | None = None
        self.destination: str | None = None
        self.hotel: Hotel | None = None
        self.check_in_days = 0
        self.nights = 0
        self.guests = 0
        self.carted: Hotel | None = None

    # -- building events -------------------------------------------------------------------------
    def event(self, event_type: str, page: str | None, action: Action | None = None,
              booking_id: str | None = None, amount: float | None = None, props: dict[str, str] | None = None,
              **more: str) -> dict[str, Any]:
        """Append one event; ``props`` and keyword arguments become its ``properties``."""
        hotel = self.hotel
        if self.light:  # the same random draws, only what the clickstream and logs read
            self.rng.getrandbits(128)
            light = {"event_type": event_type, "page": page, "hotel_id": hotel.hotel_id if hotel is not None else None}
            self.page = page
            self.s.events.append(Emit(light, action))
            return light
        user_id, session_id, platform, device_id, app_version, locale, ip, ua = self._fixed
        rec = {
            "event_id": uuid4_of(self.rng.getrandbits(128)),
            "event_type": event_type,
            "event_ts": 0,
            "received_ts": 0,
            "user_id": user_id,
            "session_id": session_id,
            "platform": platform,
            "device_id": device_id,
            "app_version": app_version,
            "locale": locale,
            "page": page,
            "destination": self.destination,
            "hotel_id": hotel.hotel_id if hotel is not None else None,
            "booking_id": booking_id,
            "amount": amount,
            "currency": "VND" if amount is not None else None,
            "client_ip": ip,
            "user_agent": ua,
            "properties": {**props, **more} if props else more,
        }
        self.page = page
        self.s.events.append(Emit(rec, action))
        return rec

    # -- choices shared by the flows ---------------------------------------------------------------
    def choose_trip(self) -> None:
        rng = self.rng
        home = self.s.user.home_city
        dest = self.world.destinations.pick(rng.random()).name
        if dest == home:  # people rarely book a hotel in their own city
            dest = self.world.destinations.pick(rng.random()).name
        self.destination = dest
        self.hotel = None
        self.check_in_days = 1 + int(rng.random() ** 2 * 90)  # most trips are booked a few weeks out
        self.nights = 1 + int(rng.random() ** 1.6 * 7)
        self.guests = {"family": 4, "business": 1, "budget": 2}.get(self.s.user.segment, 2) - (rng.random() < 0.2)

    def search_props(self) -> dict[str, str]:
        ci = self.check_in_date()
        return {"query": self.destination or "", "check_in": ci.isoformat(), "nights": str(self.nights),
                "guests": str(max(1, self.guests))}

    def choose_hotel(self) -> Hotel:
        assert self.destination is not None, "a hotel is chosen after a search"
        self.hotel = self.world.hotel(self.rng, self.destination, self.s.user.segment)
        return self.hotel

    def filter_props(self) -> dict[str, str]:
        r = self.rng.random
        name, values = _FILTERS[int(r() * len(_FILTERS))]
        return {"filter": name, "value": values[int(r() * len(values))]}

    def check_in_date(self) -> date:
        if self._day is None:
            self._day = date.fromordinal(_EPOCH_ORDINAL + self.now_ms // 86_400_000)
        return self._day + timedelta(days=self.check_in_days)

    def price(self, hotel: Hotel) -> float:
        return float(round(hotel.price_vnd * (0.9 + 0.2 * SEGMENT_PRICE[self.s.user.segment] / 2.8), -3))

    def book(self, hotel: Hotel, channel: str) -> bk.Booking:
        """A new booking for ``hotel`` (the OLTP workload writes it when the event is emitted)."""
        rng = self.rng
        guests = max(1, self.guests)
        rooms = (guests + 1) // 2
        check_in = self.check_in_date()
        booking = bk.Booking(
            booking_id=f"bk-{rng.getrandbits(64):016x}",
            payment_id=f"pay-{rng.getrandbits(64):016x}",
            user_id=self.s.user.user_id,
            session_id=self.s.session_id,
            hotel_id=hotel.hotel_id,
            destination=hotel.destination,
            check_in=check_in,
            check_out=check_in + timedelta(days=max(1, self.nights)),
            guests=guests,
            amount=self.price(hotel) * max(1, self.nights) * rooms,
            currency="VND",
            method=_METHOD.pick(rng.random()),
            created_ms=self.now_ms,
            channel=channel,
        )
        self.s.booking = booking
        return booking

    def booking_events(self, booking: bk.Booking, page_created: str, page_paid: str) -> None:
        self.event("booking_created", page_created, ("booking", booking), booking.booking_id, booking.amount,
                   check_in=booking.check_in.isoformat(), check_out=booking.check_out.isoformat(),
                   guests=str(booking.guests), nights=str((booking.check_out - booking.check_in).days))
        self.event("payment_submitted", page_paid, None, booking.booking_id, booking.amount,
                   method=booking.method, payment_id=booking.payment_id)


State = Callable[[Journey], None]


@dataclass(frozen=True)
class Flow:
    """A journey definition: the flow table, what each state emits, and how a session starts."""

    kind: str  # mobile / web
    platform_of: Callable[[Device], str]
    device_of: Callable[[User], Device]
    table: dict[str, tuple[tuple[str, float], ...]]
    states: dict[str, State]
    start: str
    end: str
    new_user_share: float  # sessions by someone who signs up in the session
    error_rate: float = 0.01
    max_steps: int = 40
    _picks: dict[str, Weighted] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for state, moves in self.table.items():
            unknown = [s for s, _ in moves if s not in self.states]
            if state not in self.states or unknown:
                raise ValueError(f"flow {self.kind}: unknown state(s) {unknown or state}")
            self._picks[state] = Weighted([s for s, _ in moves], [p for _, p in moves])

    def build(self, world: World, stream: int, j: int, now_ms: int, light: bool = False) -> Session:
        """Session ``j`` of worker ``stream``: a pure function of the world's seed and these numbers.

        ``light`` records only event_type/page/hotel_id per event (what the clickstream and the logs
        need), with the same random draws — so the session is the same one, built for less.
        """
        rng = world.session_rng(self.kind, stream, j)
        new_user = rng.random() < self.new_user_share
        if new_user:
            user = world.new_user(rng, f"u-{world.tag}-{self.kind[0]}{stream}-{j:07d}")
        else:
            user = world.active_user(rng.random())
        device = self.device_of(user)
        session = Session(self.kind, j, f"s-{rng.getrandbits(64):016x}", user, device)
        journey = Journey(world, rng, session, now_ms, self.platform_of(device), light)
        state, steps = self.start, 0
        while True:
            self.states[state](journey)
            if state == self.end:
                break
            if new_user and state == self.start:
                state = "signup"
                continue
            steps += 1
            if rng.random() < self.error_rate:
                journey.event("error", journey.page, error_code=rng.choice(("E_NETWORK", "E_TIMEOUT", "E_RENDER")),
                              screen=journey.page or "")
            state = self.end if steps >= self.max_steps else self._picks[state].pick(rng.random())
        return session

