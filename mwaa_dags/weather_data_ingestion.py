"""Weather for every destination, every 6 hours (Open-Meteo: ``/v1/forecast``, ``/v1/archive`` when older).

``extract`` fetches each city's hourly values for the interval — from the forecast API when the interval
is within its ~92-day window (labelled ``value_type=forecast``), else from the archive (``reanalysis``) —
and lands the raw answers in the lake's raw zone, replacing the interval's earlier objects; ``publish``
turns the interval's hours into per-city metrics (temperature, rain, wind, humidity, cloud, a 0-100
travel-weather score) and publishes one ExternalData record per city. Ids and object keys come from
(source, city, interval): a rerun replaces, and consumers keep one record per ``record_id``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from extdata.runtime import asset, current_interval, dag_args
from extdata.settings import DagSettings

SETTINGS = DagSettings()
PERIOD = timedelta(hours=6)
SOURCE = "weather"


@dag(**dag_args("weather_data_ingestion", "0 */6 * * *", tags=["weather"], doc=__doc__,
                dagrun_timeout=timedelta(hours=3)))
def weather_data_ingestion() -> None:
    @task(pool="open_meteo")  # one pool for the Open-Meteo hosts: a backfill's runs share its slots
    def extract() -> list[str]:
        from extdata.destinations import load_destinations
        from extdata.http import Fetcher
        from extdata.records import interval_prefix, land, raw_key
        from extdata.weather import fetch

        interval, _ = current_interval(PERIOD)
        dests = load_destinations(SETTINGS.destinations_path)
        with Fetcher(SETTINGS) as fetcher:  # every city first: nothing lands if one fails
            bodies = {d.code: fetch(d, interval, fetcher, SETTINGS) for d in dests}
        return land({raw_key(SETTINGS.raw_prefix, SOURCE, interval, code): b for code, b in bodies.items()},
                    replace=[interval_prefix(SETTINGS.raw_prefix, SOURCE, interval)])

    @task(outlets=[asset(SOURCE)])
    def publish(keys: list[str]) -> int:
        from extdata.destinations import load_destinations
        from extdata.http import Fetcher
        from extdata.records import land, raw_key, read_landed
        from extdata.records import publish as publish_records
        from extdata.weather import fetch, to_record

        interval, run_id = current_interval(PERIOD)
        dests = load_destinations(SETTINGS.destinations_path)
        landed = read_landed(keys, missing_ok=True)
        gone = [d for d in dests if raw_key(SETTINGS.raw_prefix, SOURCE, interval, d.code) not in landed]
        if gone:  # the lake lost what extract landed: fetch those again rather than fail every retry
            with Fetcher(SETTINGS) as fetcher:
                again = {raw_key(SETTINGS.raw_prefix, SOURCE, interval, d.code): fetch(d, interval, fetcher, SETTINGS)
                         for d in gone}
            land(again)
            landed.update(again)
        records = [to_record(d, landed[raw_key(SETTINGS.raw_prefix, SOURCE, interval, d.code)], interval, run_id)
                   for d in dests]
        return publish_records(records, client_id="dags-weather")

    publish(extract())


dag_object = weather_data_ingestion()
