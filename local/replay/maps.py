"""Nominatim ``/search`` and Overpass ``/api/interpreter`` (sources: local/replay/README.md).

Nominatim's usage policy: an identifying User-Agent (a library's stock one is blocked: 403), at most one
request a second (the server enforces it: ``ReplayServer(rate_limits=...)`` answers 429), results cached
by the client. Overpass: ``node[...]`` counts nodes only, ``nwr[...]`` nodes + ways + relations (hotels and
museums are often mapped as building ways); a query running past its own ``[timeout:N]`` comes back as
HTTP 200 with a ``remark`` "runtime error: Query timed out ..." and no counts.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from local.replay.base import Answer, Request, bad, recording, rng

BLOCKED_AGENTS = ("python-httpx/", "python-requests/", "python-urllib/", "Python-urllib/", "curl/", "Wget/")
STATEMENT = re.compile(
    r'(node|way|relation|nwr|nw|nr|wr)\["(\w+)"="(\w+)"\]\(around:(\d+),(-?[\d.]+),(-?[\d.]+)\);\s*out count;')


# --- Nominatim ---------------------------------------------------------------------------------
def nominatim_search(req: Request) -> Answer:
    agent = req.headers.get("user-agent", "")
    if not agent or agent.startswith(BLOCKED_AGENTS):
        return Answer(403, "<html><body><h1>Access blocked</h1><p>You have been blocked because you have "
                           "violated the usage policy of OSM's Nominatim geocoding service. Please be aware "
                           "that OSM's resources are limited ...</p></body></html>")
    query = (req.query.get("q") or "").strip().lower()
    if not query:
        return Answer(400, {"error": {"code": 400, "message": "Nothing to search for."}})
    results = recording("nominatim")["results"].get(query, [])
    return Answer(200, results[: int(req.query.get("limit", 10))])


# --- Overpass ----------------------------------------------------------------------------------
def overpass_interpreter(req: Request) -> Answer:
    """Past the query's own ``[timeout:N]`` (``req.runtime_s``, a ``slow`` fault) the answer is a
    runtime-error remark, as Overpass gives."""
    rec = recording("overpass")
    data = req.query.get("data", "")
    statements = STATEMENT.findall(data)
    if not statements:
        return bad("runtime error: expected <node|nwr|...>[k=v](around:R,LAT,LON);out count; statements")
    m = re.search(r"\[timeout:(\d+)\]", data)
    timeout = int(m.group(1)) if m else 180  # Overpass' default
    resp = dict(rec["response"])
    day = _query_day(data)
    resp["osm3s"] = {**resp["osm3s"], "timestamp_osm_base": f"{day.isoformat()}T00:00:00Z"}
    if req.runtime_s > timeout:
        return Answer(200, {**resp, "elements": [], "remark": f'runtime error: Query timed out in "query" at '
                                                               f"line 1 after {timeout} seconds."})
    elements = []
    for i, (kind, key, value, radius, lat, lon) in enumerate(statements):
        counts = _counts(rec, key, value, int(radius), float(lat), float(lon), day)
        sel = {"node": "n", "way": "w", "relation": "r"}.get(kind, kind)  # nwr, nw, ... as they are
        n, w, r = (c if letter in sel else 0 for c, letter in zip(counts, "nwr", strict=True))
        tags = {"nodes": str(n), "ways": str(w), "relations": str(r), "total": str(n + w + r)}
        elements.append({"type": "count", "id": i, "tags": tags})
    return Answer(200, {**resp, "elements": elements})


def _counts(rec: dict, key: str, value: str, radius: int, lat: float, lon: float, day: date) -> tuple[int, int, int]:
    lo, hi = rec["base_counts"].get(f"{key}={value}", [0, 5])
    way_share, rel_share = rec["way_share"].get(f"{key}={value}", 0.1), 0.02
    r = rng("poi", key, value, round(lat, 3), round(lon, 3))
    base = r.randint(lo, hi) * (radius / 5000) ** 2
    years = (day - date(2025, 1, 1)).days / 365
    jitter = rng("poi-day", key, value, lat, lon, day).gauss(0, 0.6)
    total = max(0, round(base * (1 + rec["growth_per_year"] * years) + jitter))
    ways, rels = round(total * way_share), round(total * rel_share)
    return total - ways - rels, ways, rels


def _query_day(data: str) -> date:
    """Overpass' `[date:"..."]` setting picks the data's day (the DAG sends its interval's)."""
    m = re.search(r'\[date:"(\d{4}-\d{2}-\d{2})', data)
    return date.fromisoformat(m.group(1)) if m else datetime.now(UTC).date()
