"""External data as feeds deliver it: weather per destination, FX/equity/fuel markets, social buzz,
travel-search trends and news — keyed ``source:entity`` like the Airflow DAGs' records.

Values follow random walks per entity (mean-reverting), weather follows climate, season and hour, so
a chart of any series looks like the real thing. ``record_id`` is a hash of (source, entity,
observed_ts): a re-run with the same seed writes the same ids (idempotent downstream).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime

from pydantic import Field

from lambdas.simulators import places
from lambdas.simulators.replay import ReplaySpec
from lambdas.simulators.sources.base import Keyed, Source, SourceContext, SourceOptions
from lambdas.simulators.world import Weighted

_MARKETS = {  # entity: (kind, start price, daily volatility, currency, exchange)
    "USD/VND": ("fx", 25_400.0, 0.002, "VND", "SBV"), "EUR/VND": ("fx", 27_550.0, 0.004, "VND", "SBV"),
    "KRW/VND": ("fx", 18.45, 0.005, "VND", "SBV"), "JPY/VND": ("fx", 168.0, 0.005, "VND", "SBV"),
    "CNY/VND": ("fx", 3_520.0, 0.003, "VND", "SBV"),
    "VJC": ("equity", 101_500.0, 0.018, "VND", "HOSE"), "HVN": ("equity", 25_300.0, 0.025, "VND", "HOSE"),
    "VTR": ("equity", 20_100.0, 0.022, "VND", "UPCOM"), "ACV": ("equity", 112_000.0, 0.015, "VND", "UPCOM"),
    "JET_FUEL": ("commodity", 92.0, 0.02, "USD", "SGX"),
}
_PLATFORMS = ("facebook", "tiktok", "instagram", "youtube", "x")
_OUTLETS = ("VnExpress", "Tuoi Tre", "Thanh Nien", "VietnamNet", "Vietnam News", "Zing News")
_HEADLINES = ("{d} welcomes record visitors over the holiday", "New direct flights announced to {d}",
              "Heavy rain disrupts travel in {d}", "{d} festival draws international crowds",
              "Hotel prices rise in {d} ahead of peak season", "{d} named among Asia's top destinations")
_FEEDS = Weighted(("weather", "market", "social", "travel_trends", "news"), (30, 25, 20, 15, 10))


class ExternalOptions(SourceOptions):
    #: Keep the raw payload (JSON) in ``payload_json`` for this share of records.
    payload_share: float = Field(default=0.3, ge=0.0, le=1.0)


class ExternalSource(Source):
    name = "external"
    default_rate = 0.05  # 3 a minute
    topic = "topic_external_data"
    Options = ExternalOptions
    replay = ReplaySpec(fresh=("record_id",), time="observed_ts", offsets=("fetched_ts",),
                        hour=("data_interval_start", "data_interval_end"))
    unique_text = ("payload_json",)

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(ctx)
        self.run_id = f"sim-{self.world.tag}-{self.stream}"
        self.prices = {k: v[1] for k, v in _MARKETS.items()}
        self.buzz = {d.name: d.popularity * 40.0 for d in places.DESTINATIONS}
        self.trend = {d.name: 40.0 + d.popularity * 3 for d in places.DESTINATIONS}
        self.sentiment = {d.name: 0.3 for d in places.DESTINATIONS}
        self.cursor = {"weather": 0, "social": 0, "travel_trends": 0, "news": 0, "market": 0}

    def _entity(self, feed: str) -> str:
        i = self.cursor[feed]
        self.cursor[feed] = i + 1
        if feed == "market":
            names = list(_MARKETS)
            return names[i % len(names)]
        return places.DESTINATIONS[i % len(places.DESTINATIONS)].name

    def generate(self, timestamps: list[int]) -> list[Keyed]:
        out: list[Keyed] = []
        for ts in timestamps:
            feed = _FEEDS.pick(self.rng.random())
            entity = self._entity(feed)
            metrics, attrs = getattr(self, f"_{feed}")(entity, ts)
            hour = ts - ts % 3_600_000
            rid = hashlib.blake2b(f"{feed}|{entity}|{ts}".encode(), digest_size=12).hexdigest()
            payload = None
            if self.rng.random() < self.options.payload_share:  # type: ignore[attr-defined]
                payload = json.dumps({"entity": entity, "observed": ts, **metrics, **attrs}, sort_keys=True)
            rec = {
                "record_id": f"ext-{rid}", "source": feed, "entity": entity, "observed_ts": ts,
                "fetched_ts": ts + 200 + int(self.rng.random() * 1800),
                "data_interval_start": hour, "data_interval_end": hour + 3_600_000,
                "metrics": metrics, "attributes": attrs, "payload_json": payload, "run_id": self.run_id,
            }
            out.append((f"{feed}:{entity}", rec))
        return out

    # -- feeds -----------------------------------------------------------------------------------
    def _weather(self, entity: str, ts: int) -> tuple[dict[str, float], dict[str, str]]:
        dest = places.DESTINATION_BY_NAME[entity]
        local = datetime.fromtimestamp(ts / 1000 + 7 * 3600, tz=UTC)
        rainy = local.month in dest.rainy_months
        season = -3.0 * math.cos((local.month - 1) / 12 * 2 * math.pi) * (1.6 if dest.region == "north" else 0.5)
        diurnal = 3.5 * math.sin((local.hour - 9) / 24 * 2 * math.pi)
        temp = dest.climate_c + season + diurnal + self.rng.gauss(0, 0.8)
        rain = max(0.0, self.rng.gauss(4.0 if rainy else 0.2, 5.0 if rainy else 0.6))
        cloud = min(100.0, max(0.0, (70.0 if rainy else 35.0) + self.rng.gauss(0, 20)))
        condition = ("thunderstorm" if rain > 12 else "rain" if rain > 1 else "overcast" if cloud > 80
                     else "partly_cloudy" if cloud > 40 else "sunny")
        metrics = {"temp_c": round(temp, 1), "humidity_pct": round(min(100.0, 62 + rain * 2 + self.rng.gauss(0, 6)), 1),
                   "rain_mm": round(rain, 1), "wind_kph": round(abs(self.rng.gauss(11, 6)), 1),
                   "cloud_pct": round(cloud, 1), "uv_index": round(max(0.0, 10 * math.sin((local.hour - 6) / 12
                                                                                          * math.pi)), 1)}
        return metrics, {"condition": condition, "lat": str(dest.lat), "lon": str(dest.lon),
                         "provider": "open-meteo"}

    def _market(self, entity: str, ts: int) -> tuple[dict[str, float], dict[str, str]]:
        kind, start, vol, currency, exchange = _MARKETS[entity]
        prev = self.prices[entity]
        step = self.rng.gauss(0, vol / 20) + 0.02 * (start - prev) / start  # mean-reverting walk
        price = prev * (1 + step)
        self.prices[entity] = price
        metrics = {"price": round(price, 4 if price < 100 else 2), "change_pct": round(100 * (price / prev - 1), 4)}
        if kind == "equity":
            metrics["volume"] = float(int(self.rng.lognormvariate(10, 0.8)))
        return metrics, {"kind": kind, "currency": currency, "exchange": exchange}

    def _social(self, entity: str, ts: int) -> tuple[dict[str, float], dict[str, str]]:
        buzz = max(1.0, self.buzz[entity] * (1 + self.rng.gauss(0, 0.08)))
        self.buzz[entity] = buzz
        s = max(-1.0, min(1.0, self.sentiment[entity] + self.rng.gauss(0, 0.05)))
        self.sentiment[entity] = s
        tag = "#dulich" + entity.lower().replace(" ", "")
        return ({"mentions": float(int(buzz)), "sentiment": round(s, 3), "engagement": float(int(buzz * 12)),
                 "reach": float(int(buzz * 480))},
                {"platform": _PLATFORMS[int(self.rng.random() * len(_PLATFORMS))], "top_hashtag": tag})

    def _travel_trends(self, entity: str, ts: int) -> tuple[dict[str, float], dict[str, str]]:
        v = min(100.0, max(1.0, self.trend[entity] + self.rng.gauss(0, 1.5)))
        self.trend[entity] = v
        dest = places.DESTINATION_BY_NAME[entity]
        return ({"search_index": round(v, 1), "yoy_change_pct": round(self.rng.gauss(8, 12), 1),
                 "avg_price_vnd": float(round(dest.base_price_vnd * (0.8 + v / 120), -3)),
                 "occupancy_pct": round(min(100.0, 45 + v / 2 + self.rng.gauss(0, 5)), 1)},
                {"region": dest.region, "granularity": "hourly"})

    def _news(self, entity: str, ts: int) -> tuple[dict[str, float], dict[str, str]]:
        headline = _HEADLINES[int(self.rng.random() * len(_HEADLINES))].format(d=entity)
        return ({"articles": float(1 + int(self.rng.random() * 6)), "sentiment": round(self.rng.uniform(-0.6, 0.9), 3)},
                {"outlet": _OUTLETS[int(self.rng.random() * len(_OUTLETS))], "headline": headline, "lang": "vi"})
