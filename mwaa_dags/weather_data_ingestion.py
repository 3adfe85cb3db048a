"""Weather forecasts for every destination, every 6 hours (Open-Meteo ``/v1/forecast``).

``extract`` fetches each city's hourly forecast and lands the raw answers in the lake's raw zone;
``publish`` turns the interval's hours into per-city metrics (temperature, rain, wind, humidity, cloud,
a 0-100 travel-weather score) and publishes one ExternalData record per city to topic_external_data.
Ids and object keys come from (source, city, interval): a rerun overwrites, never duplicates.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task
from extdata.runtime import START, TAGS, cron, current_interval, default_args
from extdata.settings import DagSettings

SETTINGS = DagSettings()
PERIOD = timedelta(hours=6)


@dag(
    dag_id="weather_data_ingestion",
    schedule=cron("0 */6 * * *"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,  # unpaused on MWAA too (its default pauses new DAGs)
    default_args=default_args(SETTINGS),
    tags=[*TAGS, "weather"],
    doc_md=__doc__,
)
def weather_data_ingestion() -> None:
    @task
    def extract() -> list[str]:
        from extdata.destinations import load_destinations
        from extdata.http import Fetcher
        from extdata.records import land, raw_key
        from extdata.weather import SOURCE, fetch

        interval, _ = current_interval(PERIOD)
        dests = load_destinations(SETTINGS.destinations_path)
        with Fetcher(SETTINGS) as fetcher:  # every city first: nothing lands if one fails
            bodies = {d.code: fetch(d, interval, fetcher, SETTINGS) for d in dests}
        return land({raw_key(SETTINGS.raw_prefix, SOURCE, interval, code): b for code, b in bodies.items()})

    @task
    def publish(keys: list[str]) -> int:
        from extdata.destinations import load_destinations
        from extdata.records import publish as publish_records
        from extdata.records import raw_key, read_landed
        from extdata.weather import SOURCE, to_record

        interval, run_id = current_interval(PERIOD)
        landed = read_landed(keys)
        records = [to_record(d, landed[raw_key(SETTINGS.raw_prefix, SOURCE, interval, d.code)], interval, run_id)
                   for d in load_destinations(SETTINGS.destinations_path)]
        return publish_records(records, client_id="dags-weather")

    publish(extract())


dag_object = weather_data_ingestion()
