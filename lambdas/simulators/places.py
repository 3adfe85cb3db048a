"""Reference data of the simulated world: Vietnamese destinations, their hotels, home cities, names.

Hotels are generated from a fixed internal seed (not the run's seed): they are reference data, so a
``hotel_id`` means the same hotel in every run, every source and every downstream join.

    >>> from lambdas.simulators.places import DESTINATIONS, hotels_of
    >>> hotels_of("Da Nang")[0].hotel_id
    'htl-dad-001'
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Destination:
    name: str
    code: str  # IATA-like code used in ids
    region: str  # north / central / south
    lat: float
    lon: float
    popularity: float  # relative share of searches
    base_price_vnd: int  # typical nightly rate of a 3-star room
    climate_c: float  # mean temperature
    rainy_months: tuple[int, ...]


DESTINATIONS: tuple[Destination, ...] = (
    Destination("Ho Chi Minh City", "sgn", "south", 10.7769, 106.7009, 16, 1_100_000, 28.0, (5, 6, 7, 8, 9, 10, 11)),
    Destination("Hanoi", "han", "north", 21.0278, 105.8342, 15, 1_000_000, 24.0, (5, 6, 7, 8, 9)),
    Destination("Da Nang", "dad", "central", 16.0544, 108.2022, 13, 1_300_000, 26.0, (9, 10, 11, 12)),
    Destination("Nha Trang", "cxr", "central", 12.2388, 109.1967, 9, 1_200_000, 27.0, (10, 11, 12)),
    Destination("Phu Quoc", "pqc", "south", 10.2899, 103.9840, 9, 1_900_000, 27.5, (6, 7, 8, 9, 10)),
    Destination("Hoi An", "hoi", "central", 15.8801, 108.3380, 8, 1_150_000, 26.0, (9, 10, 11, 12)),
    Destination("Ha Long", "hlg", "north", 20.9101, 107.1839, 7, 1_400_000, 23.5, (6, 7, 8, 9)),
    Destination("Da Lat", "dli", "central", 11.9404, 108.4583, 7, 800_000, 18.0, (5, 6, 7, 8, 9, 10)),
    Destination("Hue", "hui", "central", 16.4637, 107.5909, 5, 850_000, 25.0, (9, 10, 11, 12)),
    Destination("Sa Pa", "sap", "north", 22.3364, 103.8438, 4, 900_000, 15.5, (5, 6, 7, 8, 9)),
    Destination("Quy Nhon", "uih", "central", 13.7830, 109.2196, 3, 1_000_000, 27.0, (9, 10, 11, 12)),
    Destination("Mui Ne", "mui", "south", 10.9333, 108.2833, 3, 950_000, 27.0, (5, 6, 7, 8, 9, 10)),
    Destination("Ninh Binh", "nbh", "north", 20.2506, 105.9745, 3, 700_000, 24.0, (5, 6, 7, 8, 9)),
    Destination("Vung Tau", "vtu", "south", 10.4114, 107.1362, 3, 900_000, 27.5, (5, 6, 7, 8, 9, 10)),
    Destination("Can Tho", "vca", "south", 10.0452, 105.7469, 2, 650_000, 27.5, (5, 6, 7, 8, 9, 10, 11)),
    Destination("Con Dao", "vcs", "south", 8.6829, 106.6089, 1, 2_200_000, 27.0, (6, 7, 8, 9, 10)),
    Destination("Ha Giang", "hag", "north", 22.8233, 104.9836, 1, 600_000, 21.0, (5, 6, 7, 8, 9)),
)
DESTINATION_BY_NAME = {d.name: d for d in DESTINATIONS}

#: Where users live. Domestic travellers dominate; inbound tourists come from the region's big markets.
HOME_CITIES: tuple[tuple[str, float], ...] = (
    ("Ho Chi Minh City", 30), ("Hanoi", 26), ("Da Nang", 6), ("Hai Phong", 5), ("Can Tho", 4),
    ("Bien Hoa", 3), ("Nha Trang", 2), ("Hue", 2), ("Vinh", 2), ("Buon Ma Thuot", 1.5),
    ("Seoul", 5), ("Tokyo", 2.5), ("Shanghai", 2.5), ("Taipei", 1.5), ("Sydney", 1.5),
    ("Singapore", 1.5), ("Bangkok", 1.5), ("Los Angeles", 1), ("Paris", 1), ("London", 1),
)
#: Locale and currency of a home city (domestic users: vi-VN / VND).
FOREIGN_LOCALE = {
    "Seoul": ("ko-KR", "KRW"), "Tokyo": ("ja-JP", "JPY"), "Shanghai": ("zh-CN", "CNY"),
    "Taipei": ("zh-TW", "TWD"), "Sydney": ("en-AU", "AUD"), "Singapore": ("en-SG", "SGD"),
    "Bangkok": ("th-TH", "THB"), "Los Angeles": ("en-US", "USD"), "Paris": ("fr-FR", "EUR"),
    "London": ("en-GB", "GBP"),
}

FAMILY_NAMES = ("Nguyen", "Tran", "Le", "Pham", "Hoang", "Huynh", "Phan", "Vu", "Vo", "Dang", "Bui", "Do",
                "Ho", "Ngo", "Duong", "Ly")
FAMILY_WEIGHTS = (38, 11, 9.5, 7, 5.1, 5, 4.5, 3.9, 3.5, 2.1, 2, 1.4, 1.3, 1.3, 1, 0.5)
MIDDLE_NAMES = ("Van", "Thi", "Minh", "Ngoc", "Duc", "Thanh", "Hoang", "Quoc", "Gia", "Bao", "Anh", "Huu")
GIVEN_NAMES = ("An", "Binh", "Chau", "Dung", "Giang", "Ha", "Hai", "Hanh", "Hung", "Huong", "Khanh", "Lan",
               "Linh", "Long", "Mai", "Minh", "Nam", "Ngoc", "Phong", "Phuong", "Quan", "Quang", "Son", "Tam",
               "Thao", "Trang", "Trung", "Tuan", "Vy", "Yen", "Khoa", "Nhi", "Duy", "Tien", "Thu", "Hieu")
FOREIGN_NAMES = {
    "ko-KR": (("Kim", "Lee", "Park", "Choi", "Jung"), ("Minjun", "Seoyeon", "Jiho", "Hayun", "Doyun")),
    "ja-JP": (("Sato", "Suzuki", "Takahashi", "Tanaka", "Ito"), ("Haruto", "Yui", "Sota", "Hina", "Ren")),
    "zh-CN": (("Wang", "Li", "Zhang", "Liu", "Chen"), ("Wei", "Fang", "Jie", "Min", "Hao")),
    "zh-TW": (("Chen", "Lin", "Huang", "Chang", "Lee"), ("Yu-ting", "Chia-hao", "Shu-fen", "Po-han", "Yi-chen")),
    "th-TH": (("Saetang", "Srisuk", "Wongsa", "Chaiyaporn", "Thongdee"), ("Somchai", "Ploy", "Anan", "Nok", "Krit")),
    "fr-FR": (("Martin", "Bernard", "Dubois", "Thomas", "Robert"), ("Lucas", "Chloe", "Hugo", "Lea", "Louis")),
}
ENGLISH_NAMES = (("Smith", "Jones", "Brown", "Wilson", "Taylor", "Nguyen", "Tan", "Lim"),
                 ("Oliver", "Emma", "Jack", "Sophie", "Liam", "Grace", "Noah", "Chloe"))

SEGMENTS = ("leisure", "business", "family", "budget", "luxury")
SEGMENT_WEIGHTS = (40, 18, 20, 15, 7)
#: Price multiplier and star preference per segment.
SEGMENT_PRICE = {"leisure": 1.0, "business": 1.4, "family": 1.2, "budget": 0.6, "luxury": 2.8}

_HOTEL_PREFIX = ("Sunrise", "Lotus", "Golden", "Riverside", "Pearl", "Jade", "Bamboo", "Silk", "Lagoon",
                 "Orchid", "Saigon", "Mekong", "Emerald", "Lantern", "Harbour", "Coconut", "Sapphire", "Palm")
_HOTEL_SUFFIX = (("Hostel", 1), ("Homestay", 2), ("Hotel", 3), ("Boutique Hotel", 3), ("Hotel & Spa", 4),
                 ("Central Hotel", 4), ("Resort", 5), ("Beach Resort", 5), ("Villas", 5))
_STAR_PRICE = {1: 0.3, 2: 0.55, 3: 1.0, 4: 1.8, 5: 3.5}
_HOTELS_PER_POPULARITY = 3  # hotels = 8 + 3 * popularity


@dataclass(frozen=True)
class Hotel:
    hotel_id: str
    name: str
    destination: str
    stars: int
    price_vnd: int  # nightly rate
    lat: float
    lon: float


@cache
def hotels_of(destination: str) -> tuple[Hotel, ...]:
    """The hotels of a destination (reference data: the same in every run)."""
    dest = DESTINATION_BY_NAME[destination]
    rng = random.Random(f"hotels:{dest.code}")
    hotels = []
    for i in range(8 + _HOTELS_PER_POPULARITY * int(dest.popularity)):
        suffix, stars = _HOTEL_SUFFIX[rng.randrange(len(_HOTEL_SUFFIX))]
        price = dest.base_price_vnd * _STAR_PRICE[stars] * rng.uniform(0.8, 1.25)
        hotels.append(
            Hotel(
                hotel_id=f"htl-{dest.code}-{i + 1:03d}",
                name=f"{rng.choice(_HOTEL_PREFIX)} {dest.name} {suffix}",
                destination=dest.name,
                stars=stars,
                price_vnd=int(round(price, -4)),
                lat=round(dest.lat + rng.uniform(-0.05, 0.05), 5),
                lon=round(dest.lon + rng.uniform(-0.05, 0.05), 5),
            )
        )
    return tuple(hotels)
