"""Recorded external APIs, replayed with deterministic variation by date and parameters.

Each handler takes the query (``dict[str, str]``) and returns ``(status, json-able)``. The shape of each
answer is the real API's (see the ``_recorded`` line of each file in ``recordings/``); the values come
from the recording plus a random generator seeded by (API, location/query, date), so the same request
always gets the same answer and a different date gets different, plausible numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).resolve().parent / "recordings"
Answer = tuple[int, Any]


@cache
def recording(name: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"{name}.json").read_text())


def rng(*parts: object) -> random.Random:
    return random.Random(int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16], 16))


def _bad(message: str) -> Answer:
    return 400, {"error": True, "reason": message}


def _day(value: str | None, what: str) -> date:
    if not value:
        raise ValueError(f"missing {what}")
    return date.fromisoformat(value)


# --- Open-Meteo /v1/forecast ---------------------------------------------------------------------
def open_meteo_forecast(q: dict[str, str]) -> Answer:
    rec = recording("open-meteo")
    try:
        lat, lon = float(q["latitude"]), float(q["longitude"])
        start, end = _day(q.get("start_date"), "start_date"), _day(q.get("end_date"), "end_date")
    except (KeyError, ValueError) as exc:
        return _bad(f"Parameter error: {exc}")
    if end < start or (end - start).days > 16:
        return _bad("Parameter 'end_date' must be after 'start_date' and within 16 days")
    wanted = [v for v in q.get("hourly", "temperature_2m").split(",") if v]
    climate = min(rec["climate"], key=lambda c: (c["lat"] - lat) ** 2 + (c["lon"] - lon) ** 2)
    hourly: dict[str, list[Any]] = {"time": [], **{v: [] for v in wanted}}
    day = start
    while day <= end:
        for hour, values in enumerate(_weather_day(lat, lon, day, climate)):
            hourly["time"].append(f"{day.isoformat()}T{hour:02d}:00")
            for v in wanted:
                hourly[v].append(values.get(v))
        day += timedelta(days=1)
    body = {"latitude": round(lat, 4), "longitude": round(lon, 4), **rec["response"],
            "elevation": float(climate["elevation"]),
            "hourly_units": {k: rec["response"]["hourly_units"].get(k, "") for k in ["time", *wanted]},
            "hourly": hourly}
    return 200, body


def _weather_day(lat: float, lon: float, day: date, climate: dict[str, Any]) -> list[dict[str, float]]:
    r = rng("weather", round(lat, 2), round(lon, 2), day.isoformat())
    doy = day.timetuple().tm_yday
    amplitude = 0.32 * abs(lat)  # the north has a real winter, the south barely
    seasonal = amplitude * math.cos(2 * math.pi * (doy - 196) / 365) * (1 if lat >= 0 else -1)
    day_mean = climate["mean_c"] + seasonal + r.gauss(0, 1.4)
    rainy_season = day.month in climate["rainy_months"]
    rainy_day = r.random() < (0.62 if rainy_season else 0.14)
    storm_hours = set(r.sample(range(10, 20), k=r.randint(1, 4))) if rainy_day else set()
    wind_base = r.uniform(5, 14) + (6 if rainy_day else 0)
    out = []
    for utc_hour in range(24):
        local = (utc_hour + lon / 15) % 24
        temp = day_mean + 3.8 * math.cos(2 * math.pi * (local - 14) / 24) + r.gauss(0, 0.35)
        rain = round(r.expovariate(1 / 2.2), 1) if int(local) in storm_hours else 0.0
        out.append({
            "temperature_2m": round(temp - (1.5 if rain else 0), 1),
            "relative_humidity_2m": min(100, round(72 - 3.6 * (temp - day_mean) + (18 if rain else 0)
                                                   + r.gauss(0, 4))),
            "precipitation": rain,
            "cloud_cover": min(100, max(0, round((85 if rainy_day else 30) + r.gauss(0, 15)))),
            "wind_speed_10m": round(max(0.0, wind_base + 3 * math.sin(2 * math.pi * local / 24) + r.gauss(0, 2)
                                        + (12 if rain else 0)), 1),
        })
    return out


# --- Nominatim /search ------------------------------------------------------------------------
def nominatim_search(q: dict[str, str]) -> Answer:
    query = (q.get("q") or "").strip().lower()
    if not query:
        return _bad("Nothing to search for.")
    results = recording("nominatim")["results"].get(query, [])
    return 200, results[: int(q.get("limit", 10))]


# --- Overpass /api/interpreter --------------------------------------------------------------
STATEMENT = re.compile(r'node\["(\w+)"="(\w+)"\]\(around:(\d+),(-?[\d.]+),(-?[\d.]+)\);\s*out count;')


def overpass_interpreter(q: dict[str, str]) -> Answer:
    rec = recording("overpass")
    data = q.get("data", "")
    statements = STATEMENT.findall(data)
    if not statements:
        return _bad("runtime error: expected node[key=value](around:R,LAT,LON);out count; statements")
    day = _query_day(data)
    elements = []
    for i, (key, value, radius, lat, lon) in enumerate(statements):
        lo, hi = rec["base_counts"].get(f"{key}={value}", [0, 5])
        r = rng("poi", key, value, round(float(lat), 3), round(float(lon), 3))
        base = r.randint(lo, hi) * (int(radius) / 5000) ** 2
        years = (day - date(2025, 1, 1)).days / 365
        jitter = rng("poi-day", key, value, lat, lon, day).gauss(0, 0.6)
        n = max(0, round(base * (1 + rec["growth_per_year"] * years) + jitter))
        tags = {"nodes": str(n), "ways": "0", "relations": "0", "total": str(n)}
        elements.append({"type": "count", "id": i, "tags": tags})
    resp = dict(rec["response"])
    resp["osm3s"] = {**resp["osm3s"], "timestamp_osm_base": f"{day.isoformat()}T00:00:00Z"}
    return 200, {**resp, "elements": elements}


def _query_day(data: str) -> date:
    """Overpass' `[date:"..."]` setting picks the data's day (the DAG sends its interval's)."""
    m = re.search(r'\[date:"(\d{4}-\d{2}-\d{2})', data)
    return date.fromisoformat(m.group(1)) if m else datetime.now(UTC).date()


# --- Bluesky app.bsky.feed.searchPosts ------------------------------------------------------------
def bluesky_search(q: dict[str, str]) -> Answer:
    rec = recording("bluesky")
    try:
        since = datetime.fromisoformat(q["since"].replace("Z", "+00:00"))
        until = datetime.fromisoformat(q["until"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return _bad("InvalidRequest: since and until must be ISO datetimes")
    limit, offset = min(int(q.get("limit", 25)), 100), int(q.get("cursor") or 0)
    posts: list[dict[str, Any]] = []
    hour = since.replace(minute=0, second=0, microsecond=0)
    while hour < until:
        r = rng("bsky", q.get("q", ""), hour.isoformat())
        local = (hour.hour + 7) % 24
        for j in range(round(r.uniform(10, 30) * (0.3 if local < 7 else 1.0))):
            ts = hour + timedelta(seconds=r.randrange(3600))
            if not since <= ts < until:
                continue
            handle = r.choice(rec["handles"])
            rid = hashlib.sha1(f"{handle}{ts.isoformat()}{j}".encode()).hexdigest()
            did = "did:plc:" + hashlib.sha1(handle.encode()).hexdigest()[:24]
            text = r.choice(rec["texts"]).format(d=r.choice(rec["destinations"]))
            stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            posts.append({
                "uri": f"at://{did}/app.bsky.feed.post/3l{rid[:11]}", "cid": "bafyrei" + rid[:40],
                "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0]},
                "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": stamp,
                           "langs": [r.choice(rec["langs"])]},
                "replyCount": r.randint(0, 6), "repostCount": r.randint(0, 12),
                "likeCount": int(r.paretovariate(1.3)) - 1,
                "quoteCount": r.randint(0, 2), "indexedAt": stamp,
            })
        hour += timedelta(hours=1)
    posts.sort(key=lambda p: p["indexedAt"], reverse=True)
    page = posts[offset: offset + limit]
    body: dict[str, Any] = {"posts": page, "hitsTotal": len(posts)}
    if offset + limit < len(posts):
        body["cursor"] = str(offset + limit)
    return 200, body


# --- Frankfurter /v1/<date> ----------------------------------------------------------------------
def frankfurter_rates(day_text: str, q: dict[str, str]) -> Answer:
    rec = recording("frankfurter")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        return 404, {"message": "not found"}
    while day.weekday() >= 5:  # ECB publishes on business days only
        day -= timedelta(days=1)
    symbols = [s for s in q.get("symbols", ",".join(rec["rates"])).split(",") if s]
    unknown = [s for s in symbols if s not in rec["rates"]]
    if unknown:
        return 404, {"message": f"not found: {','.join(unknown)}"}
    days = (day - date.fromisoformat(rec["reference_date"])).days
    rates = {}
    for s in symbols:
        drift = 0.025 * math.sin(days / 41 + rng("fx-phase", s).uniform(0, 6.28))
        noise = rng("fx", s, day).gauss(0, rec["daily_volatility"])
        rates[s] = round(rec["rates"][s] * math.exp(drift + noise), 4 if rec["rates"][s] < 100 else 2)
    return 200, {"amount": 1.0, "base": q.get("base", rec["base"]), "date": day.isoformat(), "rates": rates}


# --- HN Algolia /api/v1/search_by_date -------------------------------------------------------------
def hn_search_by_date(q: dict[str, str]) -> Answer:
    rec = recording("hn-algolia")
    bounds = dict(re.findall(r"created_at_i(>=|<)(\d+)", q.get("numericFilters", "")))
    if ">=" not in bounds or "<" not in bounds:
        return _bad("numericFilters must bound created_at_i (>= and <)")
    lo, hi = int(bounds[">="]), int(bounds["<"])
    per_page, page = min(int(q.get("hitsPerPage", 20)), 1000), int(q.get("page", 0))
    hits = []
    for hour_start in range(lo - lo % 3600, hi, 3600):
        r = rng("hn", q.get("query", ""), hour_start)
        for j in range(r.randint(2, 14)):
            ts = hour_start + r.randrange(3600)
            if not lo <= ts < hi:
                continue
            oid = str(30_000_000 + (hour_start - 1_600_000_000) // 3600 * 20 + j)
            hits.append({
                "objectID": oid, "story_id": int(oid), "title": r.choice(rec["titles"]),
                "url": f"https://{r.choice(rec['domains'])}/{oid}", "author": r.choice(rec["authors"]),
                "points": int(r.paretovariate(1.1)), "num_comments": r.randint(0, 40), "created_at_i": ts,
                "created_at": datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "_tags": ["story", f"story_{oid}"],
            })
    hits.sort(key=lambda h: h["created_at_i"], reverse=True)
    pages = max(1, math.ceil(len(hits) / per_page))
    return 200, {"hits": hits[page * per_page:(page + 1) * per_page], "nbHits": len(hits), "page": page,
                 "nbPages": pages, "hitsPerPage": per_page, "exhaustiveNbHits": True, "query": q.get("query", ""),
                 "params": "&".join(f"{k}={v}" for k, v in sorted(q.items())), "processingTimeMS": 1}


#: (host, path regex) -> handler(match, query)
ROUTES: list[tuple[str, re.Pattern[str], Any]] = [
    ("api.open-meteo.com", re.compile(r"^/v1/forecast$"), lambda m, q: open_meteo_forecast(q)),
    ("nominatim.openstreetmap.org", re.compile(r"^/search$"), lambda m, q: nominatim_search(q)),
    ("overpass-api.de", re.compile(r"^/api/interpreter$"), lambda m, q: overpass_interpreter(q)),
    ("public.api.bsky.app", re.compile(r"^/xrpc/app\.bsky\.feed\.searchPosts$"), lambda m, q: bluesky_search(q)),
    ("api.frankfurter.dev", re.compile(r"^/v1/(\d{4}-\d{2}-\d{2})$"), lambda m, q: frankfurter_rates(m.group(1), q)),
    ("hn.algolia.com", re.compile(r"^/api/v1/search_by_date$"), lambda m, q: hn_search_by_date(q)),
]
