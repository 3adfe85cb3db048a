"""Mobile app journeys (iOS/Android): app_open → search → filters → hotel → "Book now" → booking.

Drop-off probabilities are the flow table below; ~8% of sessions book, ~6% are first-time users who
sign up in the session. Every path to a booking passes a search and a hotel view.
"""

from __future__ import annotations

from lambdas.simulators.journey import Flow, Journey
from lambdas.simulators.sources.journey_source import JourneySource


def _open(j: Journey) -> None:
    j.event("app_open", "launch", cold_start="true" if j.rng.random() < 0.3 else "false")


def _signup(j: Journey) -> None:
    j.s.logged_in = True
    j.event("signup", "signup", ("signup", j.s.user), method=j.rng.choice(("email", "google", "apple", "zalo")))


def _login(j: Journey) -> None:
    j.s.logged_in = True
    j.event("login", "login", method=j.rng.choice(("password", "google", "apple", "zalo", "biometric")))


def _home(j: Journey) -> None:
    j.event("page_view", "home")


def _deals(j: Journey) -> None:
    j.event("page_view", "deals", campaign=j.rng.choice(("summer_sale", "weekend_getaway", "tet_holiday")))


def _trips(j: Journey) -> None:
    j.event("page_view", "my_trips")


def _review(j: Journey) -> None:
    j.event("review_submitted", "my_trips", rating=str(j.rng.choice((5, 5, 5, 4, 4, 3, 2, 1))))


def _search(j: Journey) -> None:
    j.choose_trip()
    j.event("search", "search", props=j.search_props())


def _filter(j: Journey) -> None:
    j.event("filter_applied", "search_results", props=j.filter_props())


def _hotel(j: Journey) -> None:
    hotel = j.choose_hotel()
    j.event("booking_view", "hotel_detail", amount=j.price(hotel), hotel_name=hotel.name, stars=str(hotel.stars))


def _cta(j: Journey) -> None:
    j.event("click_cta", "hotel_detail", cta="book_now")


def _book(j: Journey) -> None:
    assert j.hotel is not None
    if not j.s.logged_in:
        _login(j)
    j.booking_events(j.book(j.hotel, "mobile"), "checkout", "payment")


def _close(j: Journey) -> None:
    if j.s.logged_in and j.rng.random() < 0.03:
        j.event("logout", j.page)
    j.event("app_close", j.page)


MOBILE = Flow(
    kind="mobile",
    platform_of=lambda device: device.platform,
    device_of=lambda user: user.phone,
    table={
        "open": (("home", 0.70), ("login", 0.25), ("close", 0.05)),
        "signup": (("home", 0.90), ("close", 0.10)),
        "login": (("home", 0.93), ("close", 0.07)),
        "home": (("search", 0.72), ("deals", 0.10), ("trips", 0.05), ("close", 0.13)),
        "deals": (("search", 0.60), ("close", 0.40)),
        "trips": (("home", 0.40), ("review", 0.15), ("close", 0.45)),
        "review": (("close", 1.0),),
        "search": (("filter", 0.40), ("hotel", 0.42), ("search", 0.06), ("close", 0.12)),
        "filter": (("filter", 0.22), ("hotel", 0.62), ("close", 0.16)),
        "hotel": (("cta", 0.15), ("hotel", 0.25), ("search", 0.10), ("close", 0.50)),
        "cta": (("book", 0.50), ("hotel", 0.15), ("close", 0.35)),
        "book": (("trips", 0.25), ("close", 0.75)),
    },
    states={"open": _open, "signup": _signup, "login": _login, "home": _home, "deals": _deals, "trips": _trips,
            "review": _review, "search": _search, "filter": _filter, "hotel": _hotel, "cta": _cta, "book": _book,
            "close": _close},
    start="open",
    end="close",
    new_user_share=0.06,
)


class MobileSource(JourneySource):
    """App events of iOS/Android sessions, posted to the gateway (``/events/*``)."""

    name = "mobile"
    default_rate = 1.5
    topic = "topic_app_events"
    flow = MOBILE
