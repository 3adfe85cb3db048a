"""Coordinates, points of interest and popularity of every destination, daily at midnight.

``extract`` geocodes each destination (Nominatim ``/search``), counts its points of interest by
category (Overpass ``out count``), and lands both raw answers in the lake's raw zone; ``publish`` adds
the destination's bookings created in the data interval (OLTP ``bookings``: count, guests, amount,
cancellations) and publishes one ExternalData record per destination to topic_external_data.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from extdata.runtime import START, TAGS, cron, current_interval, default_args
from extdata.settings import DagSettings

SETTINGS = DagSettings()
PERIOD = timedelta(days=1)


@dag(
    dag_id="maps_data_ingestion",
    schedule=cron("0 0 * * *"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,  # unpaused on MWAA too (its default pauses new DAGs)
    default_args=default_args(SETTINGS),
    tags=[*TAGS, "maps"],
    doc_md=__doc__,
)
def maps_data_ingestion() -> None:
    @task
    def extract() -> list[str]:
        from extdata.destinations import load_destinations
        from extdata.http import Fetcher
        from extdata.maps import SOURCE, geocode, poi_counts
        from extdata.records import land, raw_key

        interval, _ = current_interval(PERIOD)
        objects = {}
        with Fetcher(SETTINGS) as fetcher:  # every destination first: nothing lands if one fails
            for d in load_destinations(SETTINGS.destinations_path):
                key = raw_key(SETTINGS.raw_prefix, SOURCE, interval, d.code)
                objects[key.replace(".json", ".geocode.json")] = geocode(d, fetcher, SETTINGS)
                objects[key.replace(".json", ".poi.json")] = poi_counts(d, interval, fetcher, SETTINGS)
        return land(objects)

    @task
    def publish(keys: list[str]) -> int:
        from extdata.destinations import load_destinations
        from extdata.maps import SOURCE, bookings_by_destination, to_record
        from extdata.records import publish as publish_records
        from extdata.records import raw_key, read_landed

        interval, run_id = current_interval(PERIOD)
        landed = read_landed(keys)
        popularity = bookings_by_destination(interval)
        records = []
        for d in load_destinations(SETTINGS.destinations_path):
            key = raw_key(SETTINGS.raw_prefix, SOURCE, interval, d.code)
            geo, pois = landed[key.replace(".json", ".geocode.json")], landed[key.replace(".json", ".poi.json")]
            records.append(to_record(d, geo, pois, popularity.get(d.name, {}), interval, run_id))
        return publish_records(records, client_id="dags-maps")

    publish(extract())


dag_object = maps_data_ingestion()
