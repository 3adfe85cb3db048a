"""The one world every source describes: a seeded population of users and their devices.

Everything is a pure function of the seed, so two processes (or two runs) with the same seed agree on
every user, device and id without talking to each other. Per-session randomness comes from
``session_rng(kind, stream, j)``, so the mobile source, the clickstream source and the app-log source
all see the same session ``j`` — that is how their records join on ``user_id``/``session_id``.

    >>> from lambdas.simulators.world import World
    >>> w = World(seed=7, users=100)
    >>> w.users[0].user_id == World(seed=7, users=100).users[0].user_id
    True
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from lambdas.simulators import places


def mix(*parts: object) -> int:
    """A 64-bit integer derived from ``parts`` (stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def uuid4_of(bits: int) -> str:
    """A version-4 UUID string from 128 random bits (deterministic when the bits are)."""
    h = "%032x" % bits  # noqa: UP031 - the fastest formatting here
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


class Weighted:
    """Weighted choice through one ``random()`` draw and a bisect (fast enough for the hot path)."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, items: list | tuple, weights: list | tuple) -> None:
        if len(items) != len(weights) or not items:
            raise ValueError("items and weights must be non-empty and of equal length")
        self.items = tuple(items)
        self.cum = list(accumulate(float(w) for w in weights))
        self.total = self.cum[-1]

    def pick(self, r: float) -> Any:
        """The item for a uniform draw ``r`` in [0, 1)."""
        return self.items[bisect(self.cum, r * self.total)]


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    platform: str  # ios / android / web
    device_type: str  # mobile / tablet / desktop
    app_version: str | None
    user_agent: str
    ip: str
    viewport: tuple[int, int]


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    email: str
    full_name: str
    home_city: str
    locale: str
    segment: str
    device_type: str  # primary device, as the users table records it
    phone: Device
    browser: Device


_APP_VERSIONS = Weighted(("5.12.0", "5.11.2", "5.10.1", "5.9.0"), (55, 25, 14, 6))
_IOS = (("iPhone15,2", "17.5"), ("iPhone16,1", "18.1"), ("iPhone14,5", "17.2"), ("iPhone13,2", "16.7"))
_ANDROID = (("SM-S918B", "14"), ("SM-A546E", "14"), ("2201117TG", "13"), ("CPH2447", "14"), ("V2207", "13"))
_BROWSERS = (
    ("desktop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/126.0.0.0 Safari/537.36", (1920, 1080)),
    ("desktop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                "Version/17.5 Safari/605.1.15", (1440, 900)),
    ("desktop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", (1536, 864)),
    ("desktop", "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", (1366, 768)),
    ("tablet", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.5 Mobile/15E148 Safari/604.1", (820, 1180)),
    ("mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
               "Version/17.5 Mobile/15E148 Safari/604.1", (390, 844)),
    ("mobile", "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/126.0.0.0 Mobile Safari/537.36", (412, 915)),
)
_BROWSER_PICK = Weighted(list(range(len(_BROWSERS))), (34, 18, 8, 3, 7, 18, 12))
_VN_NETS = ("14.160", "14.161", "113.161", "113.185", "27.72", "27.64", "171.224", "171.236", "42.112", "116.96")
_FOREIGN_NETS = ("211.36", "121.134", "60.112", "58.247", "1.36", "203.116", "49.228", "82.64")
_HOME = Weighted([c for c, _ in places.HOME_CITIES], [w for _, w in places.HOME_CITIES])
_SEGMENT = Weighted(places.SEGMENTS, places.SEGMENT_WEIGHTS)
_FAMILY = Weighted(places.FAMILY_NAMES, places.FAMILY_WEIGHTS)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


class World:
    """Population and reference data for one seed. Cheap to build (a few ms per thousand users)."""

    def __init__(self, seed: int, users: int = 2000) -> None:
        if users < 1:
            raise ValueError("the world needs at least one user")
        self.seed = seed
        #: Short tag in every id this seed creates: runs with different seeds never collide in the DB.
        self.tag = f"{mix('tag', seed) & 0xFFFFFF:06x}"
        rng = random.Random(mix("population", seed))
        self.users: tuple[User, ...] = tuple(self._make_user(rng, f"u-{self.tag}-{i:06d}") for i in range(users))
        # Activity is heavy-tailed: a few power users produce many sessions, most users few.
        self._activity = list(accumulate(1.0 / (i + 10) ** 0.8 for i in range(users)))
        order = list(range(users))
        rng.shuffle(order)
        self._by_rank = [self.users[i] for i in order]
        self.destinations = Weighted(places.DESTINATIONS, [d.popularity for d in places.DESTINATIONS])
        self.hotels = {d.name: places.hotels_of(d.name) for d in places.DESTINATIONS}

    # -- people ------------------------------------------------------------------------------
    def _make_user(self, rng: random.Random, user_id: str) -> User:
        home = _HOME.pick(rng.random())
        locale, _currency = places.FOREIGN_LOCALE.get(home, ("vi-VN", "VND"))
        if locale == "vi-VN":
            parts = (_FAMILY.pick(rng.random()), rng.choice(places.MIDDLE_NAMES), rng.choice(places.GIVEN_NAMES))
            full_name = " ".join(parts)
            handle = f"{parts[2]}.{parts[0]}"
        else:
            families, givens = places.FOREIGN_NAMES.get(locale, places.ENGLISH_NAMES)
            given, family = rng.choice(givens), rng.choice(families)
            full_name, handle = f"{given} {family}", f"{given}.{family}"
        domain = "gmail.com" if rng.random() < 0.6 else ("yahoo.com" if rng.random() < 0.4 else "example.vn")
        email = f"{_ascii(handle)}.{user_id.split('-', 1)[1].replace('-', '')}@{domain}"
        phone = self._phone(rng, locale, home)
        browser = self._browser(rng, home)
        primary = "mobile" if rng.random() < 0.72 else browser.device_type
        return User(user_id, email, full_name, home, locale, _SEGMENT.pick(rng.random()), primary, phone, browser)

    @staticmethod
    def _ip(rng: random.Random, home: str) -> str:
        nets = _VN_NETS if home not in places.FOREIGN_LOCALE else _FOREIGN_NETS
        return f"{rng.choice(nets)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def _phone(self, rng: random.Random, locale: str, home: str) -> Device:
        version = _APP_VERSIONS.pick(rng.random())
        if rng.random() < 0.38:
            model, os_v = rng.choice(_IOS)
            platform, ua = "ios", f"TravelVN/{version} ({model}; iOS {os_v}; {locale})"
            viewport = (393, 852)
        else:
            model, os_v = rng.choice(_ANDROID)
            platform, ua = "android", f"TravelVN/{version} ({model}; Android {os_v}; {locale})"
            viewport = (412, 915)
        return Device(f"dev-{rng.getrandbits(64):016x}", platform, "mobile", version, ua, self._ip(rng, home), viewport)

    def _browser(self, rng: random.Random, home: str) -> Device:
        device_type, ua, viewport = _BROWSERS[_BROWSER_PICK.pick(rng.random())]
        return Device(f"web-{rng.getrandbits(64):016x}", "web", device_type, None, ua, self._ip(rng, home), viewport)

    def active_user(self, r: float) -> User:
        """A user drawn by activity (``r`` uniform in [0, 1))."""
        return self._by_rank[bisect(self._activity, r * self._activity[-1])]

    def new_user(self, rng: random.Random, user_id: str) -> User:
        """A user who is not in the population yet (signs up during a session or in the back office)."""
        return self._make_user(rng, user_id)

    # -- deterministic randomness ------------------------------------------------------------
    def session_rng(self, kind: str, stream: int, j: int) -> random.Random:
        """The random stream of session ``j`` of ``kind`` (mobile/web) in worker ``stream``."""
        return random.Random(mix(self.seed, kind, stream, j))

    def source_rng(self, source: str, stream: int) -> random.Random:
        """The random stream of a source's own choices (interleaving, log levels, …)."""
        return random.Random(mix(self.seed, "source", source, stream))

    def hotel(self, rng: random.Random, destination: str, segment: str) -> places.Hotel:
        """A hotel at ``destination``, biased to the stars a segment books."""
        hotels = self.hotels[destination]
        want = {"budget": 2, "luxury": 5, "business": 4, "family": 4}.get(segment, 3)
        n = len(hotels)
        best = hotels[int(rng.random() * n)]
        other = hotels[int(rng.random() * n)]
        return best if abs(best.stars - want) <= abs(other.stars - want) else other
