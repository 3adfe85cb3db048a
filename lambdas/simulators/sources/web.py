"""Desktop/browser journeys with a cart and a checkout funnel.

landing → search → results (→ filters) → hotel → add_to_cart → cart → checkout_start (login if needed)
→ booking_created + payment_submitted → confirmation. Most carts are abandoned, as on real sites.
Visitors who never log in are *anonymous*: their clicks carry no user_id (their app events do — the
tracking cookie knows the user).
"""

from __future__ import annotations

from lambdas.simulators.journey import Flow, Journey
from lambdas.simulators.sources.journey_source import JourneySource

_SITE = "https://www.travelvn.com"


def _landing(j: Journey) -> None:
    j.s.anonymous = True
    j.event("page_view", "/", referrer=j.rng.choice(("google", "facebook", "direct", "tiktok", "email", "zalo")))


def _signup(j: Journey) -> None:
    j.s.logged_in, j.s.anonymous = True, False
    j.event("signup", "/signup", ("signup", j.s.user), method=j.rng.choice(("email", "google", "facebook")))


def _login(j: Journey) -> None:
    j.s.logged_in, j.s.anonymous = True, False
    j.event("login", "/login", method=j.rng.choice(("password", "google", "facebook")))


def _deals(j: Journey) -> None:
    j.event("page_view", "/deals")


def _search(j: Journey) -> None:
    j.choose_trip()
    j.event("search", "/search", props=j.search_props())


def _results(j: Journey) -> None:
    j.event("page_view", "/search/results", results=str(len(j.world.hotels[j.destination or "Hanoi"])))


def _filter(j: Journey) -> None:
    j.event("filter_applied", "/search/results", props=j.filter_props())


def _hotel(j: Journey) -> None:
    hotel = j.choose_hotel()
    j.event("booking_view", f"/hotels/{hotel.hotel_id}", amount=j.price(hotel), hotel_name=hotel.name,
            stars=str(hotel.stars))


def _add_to_cart(j: Journey) -> None:
    assert j.hotel is not None
    j.carted = j.hotel
    j.event("add_to_cart", f"/hotels/{j.hotel.hotel_id}", amount=j.price(j.hotel) * max(1, j.nights),
            nights=str(j.nights))


def _cart(j: Journey) -> None:
    j.hotel = j.carted
    j.event("page_view", "/cart")


def _checkout(j: Journey) -> None:
    if not j.s.logged_in:
        _login(j)
    j.hotel = j.carted
    j.event("checkout_start", "/checkout")


def _book(j: Journey) -> None:
    assert j.carted is not None
    j.hotel = j.carted
    j.booking_events(j.book(j.carted, "web"), "/checkout", "/checkout/payment")


def _confirmation(j: Journey) -> None:
    j.event("page_view", "/booking/confirmation")


def _exit(j: Journey) -> None:
    if j.s.logged_in and j.rng.random() < 0.05:
        j.event("logout", j.page)


WEB = Flow(
    kind="web",
    platform_of=lambda device: "web",
    device_of=lambda user: user.browser,
    table={
        "landing": (("search", 0.62), ("login", 0.12), ("deals", 0.10), ("exit", 0.16)),
        "signup": (("search", 0.85), ("exit", 0.15)),
        "login": (("search", 0.85), ("exit", 0.15)),
        "deals": (("search", 0.60), ("exit", 0.40)),
        "search": (("results", 0.90), ("exit", 0.10)),
        "results": (("hotel", 0.60), ("filter", 0.25), ("search", 0.05), ("exit", 0.10)),
        "filter": (("results", 0.90), ("exit", 0.10)),
        "hotel": (("add_to_cart", 0.22), ("results", 0.35), ("exit", 0.43)),
        "add_to_cart": (("cart", 0.70), ("results", 0.15), ("exit", 0.15)),
        "cart": (("checkout", 0.55), ("results", 0.10), ("exit", 0.35)),
        "checkout": (("book", 0.70), ("exit", 0.30)),
        "book": (("confirmation", 1.0),),
        "confirmation": (("exit", 1.0),),
    },
    states={"landing": _landing, "signup": _signup, "login": _login, "deals": _deals, "search": _search,
            "results": _results, "filter": _filter, "hotel": _hotel, "add_to_cart": _add_to_cart, "cart": _cart,
            "checkout": _checkout, "book": _book, "confirmation": _confirmation, "exit": _exit},
    start="landing",
    end="exit",
    new_user_share=0.04,
)


def page_url(page: str) -> str:
    return _SITE + page


class WebSource(JourneySource):
    """App events of browser sessions (desktop, tablet, mobile web), posted to the gateway."""

    name = "web"
    default_rate = 0.8
    topic = "topic_app_events"
    flow = WEB
