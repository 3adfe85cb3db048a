"""Maps: Nominatim geocoding + Overpass POI counts per destination, and popularity from the OLTP database.

Geocodes are cached in the lake (``<raw_prefix>/maps/_geocode_cache/<code>.json``) and refreshed after
``geocode_cache_days``: Nominatim's usage policy asks clients to cache, and the 17 places do not move.
POIs are counted with ``nwr`` (nodes, ways and relations: many hotels and museums are mapped as building
outlines, which ``node`` misses); the query's ``[timeout:N]`` is shorter than the client's wait, so the
client never abandons (and re-sends) a query the server is still allowed to run.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from extdata.destinations import Destination
from extdata.exceptions import SourceError
from extdata.http import Fetcher
from extdata.records import Interval, make_record
from extdata.settings import DagSettings

SOURCE = "maps"
RADIUS_M = 5000
POI = (("tourism", "attraction"), ("tourism", "museum"), ("tourism", "hotel"), ("tourism", "viewpoint"),
       ("amenity", "restaurant"))


def geocode(dest: Destination, fetcher: Fetcher, settings: DagSettings, now: datetime | None = None) -> Any:
    """The destination's Nominatim answer: from the cache when younger than ``geocode_cache_days``."""
    from eventbus.aws import client
    from eventbus.settings import get_settings

    now = now or datetime.now(UTC)
    bucket, s3 = get_settings().lake_bucket, client("s3", get_settings())
    key = f"{settings.raw_prefix.strip('/')}/{SOURCE}/_geocode_cache/{dest.code}.json"
    try:
        cached = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        age = now - datetime.fromisoformat(cached["fetched"])
        if cached.get("query") == dest.query and age < timedelta(days=settings.geocode_cache_days):
            return cached["result"]
    except ClientError as exc:
        # Not there yet. Without s3:ListBucket on the key S3 says 403, not 404 (the MWAA role may list
        # under raw/external/ only by prefix, which a GetObject does not carry): a miss too.
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404", "AccessDenied", "403"):
            raise
    except (KeyError, ValueError):  # an unreadable cache entry: geocode again
        pass
    body = fetcher.get_json(SOURCE, settings.url(settings.geocode_url, "/search"),
                            {"q": dest.query, "format": "jsonv2", "limit": 1},
                            min_interval_s=settings.geocode_interval_s)
    if not isinstance(body, list) or not body:
        raise SourceError(SOURCE, f"the geocoder found no place for {dest.query!r} — fix `query` in "
                                  "mwaa_dags/config/destinations.yaml")
    s3.put_object(Bucket=bucket, Key=key, ContentType="application/json", Body=json.dumps(
        {"fetched": now.isoformat(), "query": dest.query, "result": body}).encode())
    return body


def poi_query(dest: Destination, interval: Interval, settings: DagSettings) -> str:
    around = f"(around:{RADIUS_M},{dest.lat},{dest.lon})"
    statements = "".join(f'nwr["{k}"="{v}"]{around};out count;' for k, v in POI)
    head = f'[out:json][timeout:{settings.poi_query_timeout_s}][date:"{interval.start:%Y-%m-%dT%H:%M:%SZ}"];'
    return head + statements


def poi_counts(dest: Destination, interval: Interval, fetcher: Fetcher, settings: DagSettings) -> Any:
    """One Overpass query: an ``out count`` per category around the destination, as of the interval's day."""
    body = fetcher.get_json(SOURCE, settings.url(settings.poi_url, "/api/interpreter"),
                            {"data": poi_query(dest, interval, settings)},
                            timeout_s=settings.poi_query_timeout_s + settings.http_timeout_s)
    remark = body.get("remark", "") if isinstance(body, dict) else ""
    if "error" in remark:  # Overpass answers 200 with a remark when the query ran out of time or memory
        raise SourceError(SOURCE, f"{dest.name}: Overpass {remark!r} — nothing published; the task retries "
                                  "(raise EB_DAGS_POI_QUERY_TIMEOUT_S if this keeps happening)")
    return body


def bookings_by_destination(interval: Interval) -> dict[str, dict[str, float]]:
    """Bookings created in the interval per destination (name), from the OLTP database."""
    import psycopg2

    from eventbus.settings import get_settings

    sql = """SELECT destination, count(*), coalesce(sum(guests), 0), coalesce(sum(amount), 0),
                    count(*) FILTER (WHERE status = 'cancelled')
             FROM bookings WHERE created_at >= %s AND created_at < %s GROUP BY destination"""
    try:
        with closing(psycopg2.connect(get_settings().pg_dsn())) as conn, conn.cursor() as cur:
            cur.execute(sql, (interval.start, interval.end))
            rows = cur.fetchall()
    except psycopg2.Error as exc:
        raise SourceError("oltp", f"bookings query failed: {str(exc).strip()} — is PostgreSQL up "
                                  "(`make local-up`) / EB_PG_* right?") from None
    return {d: {"bookings": n, "booked_guests": float(g), "booked_amount_vnd": float(a), "cancelled": c}
            for d, n, g, a, c in rows}


def to_record(dest: Destination, geo: Any, pois: Any, popularity: dict[str, float], interval: Interval,
              run_id: str | None) -> dict[str, Any]:
    try:
        place = geo[0]
        counts = [int(e["tags"]["total"]) for e in pois["elements"]]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SourceError(SOURCE, f"{dest.name}: unexpected geocoder/POI answer ({exc!r})") from None
    if len(counts) != len(POI):
        raise SourceError(SOURCE, f"{dest.name}: expected {len(POI)} POI counts, got {len(counts)}")
    metrics: dict[str, float] = {"lat": float(place["lat"]), "lon": float(place["lon"]),
                                 "importance": float(place.get("importance") or 0)}
    metrics.update({f"poi_{v}": n for (_, v), n in zip(POI, counts, strict=True)})
    metrics["poi_total"] = sum(counts)
    metrics.update({"bookings": 0, "booked_guests": 0, "booked_amount_vnd": 0, "cancelled": 0, **popularity})
    attributes = {"name": dest.name, "region": dest.region, "display_name": str(place.get("display_name", "")),
                  "osm_type": str(place.get("osm_type", "")), "osm_id": str(place.get("osm_id", "")),
                  "poi_radius_m": str(RADIUS_M)}
    return make_record(SOURCE, dest.code, interval, metrics=metrics, attributes=attributes, run_id=run_id)
