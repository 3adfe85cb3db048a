"""Coordinates, points of interest and popularity of every destination, daily at midnight.

``geocode`` gives each destination's Nominatim answer (cached in the lake for ``geocode_cache_days``:
the usage policy asks for caching; pool ``nominatim``, 1 slot, as the policy's 1 request/s is per client,
not per process); ``count_pois`` counts its points of interest by category (Overpass ``nwr ... out count``,
pool ``overpass``); both land their raw answers under the interval's prefix. ``publish`` removes what an
earlier attempt left there, adds the destination's bookings created in the interval (OLTP ``bookings``)
and publishes one ExternalData record per destination to topic_external_data.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from extdata.runtime import asset, current_interval, dag_args
from extdata.settings import DagSettings

SETTINGS = DagSettings()
PERIOD = timedelta(days=1)
SOURCE = "maps"


def _key(interval: object, code: str, kind: str) -> str:
    from extdata.records import raw_key

    return raw_key(SETTINGS.raw_prefix, SOURCE, interval, f"{code}.{kind}")  # type: ignore[arg-type]


@dag(**dag_args("maps_data_ingestion", "0 0 * * *", tags=["maps"], doc=__doc__, dagrun_timeout=timedelta(hours=6)))
def maps_data_ingestion() -> None:
    @task(pool="nominatim")
    def geocode() -> list[str]:
        from extdata.destinations import load_destinations
        from extdata.http import Fetcher
        from extdata.maps import geocode as geocode_one
        from extdata.records import land

        interval, _ = current_interval(PERIOD)
        with Fetcher(SETTINGS) as fetcher:  # every destination first: nothing lands if one fails
            found = {_key(interval, d.code, "geocode"): geocode_one(d, fetcher, SETTINGS)
                     for d in load_destinations(SETTINGS.destinations_path)}
        return land(found)

    @task(pool="overpass")
    def count_pois() -> list[str]:
        from extdata.destinations import load_destinations
        from extdata.http import Fetcher
        from extdata.maps import poi_counts
        from extdata.records import land

        interval, _ = current_interval(PERIOD)
        with Fetcher(SETTINGS) as fetcher:
            counted = {_key(interval, d.code, "poi"): poi_counts(d, interval, fetcher, SETTINGS)
                       for d in load_destinations(SETTINGS.destinations_path)}
        return land(counted)

    @task(outlets=[asset(SOURCE)])
    def publish(geo_keys: list[str], poi_keys: list[str]) -> int:
        from extdata.destinations import load_destinations
        from extdata.http import Fetcher
        from extdata.maps import bookings_by_destination, poi_counts, to_record
        from extdata.maps import geocode as geocode_one
        from extdata.records import interval_prefix, land, prune, read_landed
        from extdata.records import publish as publish_records

        interval, run_id = current_interval(PERIOD)
        prune([interval_prefix(SETTINGS.raw_prefix, SOURCE, interval)], keep=[*geo_keys, *poi_keys])
        dests = load_destinations(SETTINGS.destinations_path)
        landed = read_landed([*geo_keys, *poi_keys], missing_ok=True)
        gone = [(d, kind) for d in dests for kind in ("geocode", "poi") if _key(interval, d.code, kind) not in landed]
        if gone:  # the lake lost what the fetch tasks landed: fetch those again rather than fail every retry
            with Fetcher(SETTINGS) as fetcher:
                again = {_key(interval, d.code, kind): geocode_one(d, fetcher, SETTINGS) if kind == "geocode"
                         else poi_counts(d, interval, fetcher, SETTINGS) for d, kind in gone}
            land(again)
            landed.update(again)
        popularity = bookings_by_destination(interval)
        records = [to_record(d, landed[_key(interval, d.code, "geocode")], landed[_key(interval, d.code, "poi")],
                             popularity.get(d.name, {}), interval, run_id)
                   for d in dests]
        return publish_records(records, client_id="dags-maps")

    publish(geocode(), count_pois())


dag_object = maps_data_ingestion()
