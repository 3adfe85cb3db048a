"""Social, market and news feeds declared in ``config/sources.yaml``, hourly — one mapped task per source.

``plan`` validates the YAML (an unknown or missing key fails the run, naming it) and lists the sources;
``ingest`` (dynamic task mapping, one task per source) fetches every page through the one declarative
fetch path, lands the raw pages in the lake's raw zone, maps records onto ExternalData and publishes
them — only after every page was fetched and validated, so a failing source publishes nothing.
Adding a source is one YAML entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task
from extdata.runtime import START, TAGS, cron, current_interval, default_args
from extdata.settings import DagSettings

SETTINGS = DagSettings()
PERIOD = timedelta(hours=1)


@dag(
    dag_id="config_driven_pipeline",
    schedule=cron("0 * * * *"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,  # unpaused on MWAA too (its default pauses new DAGs)
    default_args=default_args(SETTINGS),
    tags=[*TAGS, "social", "market", "news"],
    doc_md=__doc__,
)
def config_driven_pipeline() -> None:
    @task(retries=0)
    def plan() -> list[str]:
        from extdata.sources import load_sources

        return [s.name for s in load_sources(SETTINGS.sources_path).sources]

    @task(map_index_template="{{ source }}")
    def ingest(source: str) -> dict[str, Any]:
        from extdata.http import Fetcher
        from extdata.records import land, publish, raw_key
        from extdata.sources import fetch_pages, load_sources, to_records

        spec = next(s for s in load_sources(SETTINGS.sources_path).sources if s.name == source)
        interval, run_id = current_interval(PERIOD)
        with Fetcher(SETTINGS) as fetcher:
            pages = fetch_pages(spec, interval, fetcher, SETTINGS)
        records = to_records(spec, pages, interval, run_id, keep_payload=SETTINGS.keep_payload)
        keys = land({raw_key(SETTINGS.raw_prefix, source, interval, f"page-{i:04d}"): p
                     for i, p in enumerate(pages, 1)})
        published = publish(records, client_id=f"dags-{source}")
        return {"source": source, "pages": len(pages), "records": published, "raw_keys": keys}

    ingest.expand(source=plan())


dag_object = config_driven_pipeline()
