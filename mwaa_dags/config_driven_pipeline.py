"""Social, market and news feeds declared in ``config/sources.yaml``, hourly — one task per source.

The YAML is read when the DAG is parsed (an unknown or missing key is an import error naming it), so each
source is its own task, with its own pool (one per rate-limited host) and its own Asset. ``ingest_<name>``
fetches every page through the one declarative fetch path (logging in first when the source declares
``auth``), lands the raw pages in the lake's raw zone replacing the interval's earlier objects, maps the
records onto ExternalData and publishes them — only after every page was fetched and validated, so a
failing source publishes nothing, and one failing source does not hold back the others. A source with
``every_hours`` skips the runs in between. Past ``max_pages`` a source publishes what it fetched, then fails
(no retry) naming the limit, and the failure alert fires. Adding a source is one YAML entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import dag, task
from extdata.runtime import asset, current_interval, dag_args
from extdata.settings import DagSettings
from extdata.sources import load_sources

SETTINGS = DagSettings()
PERIOD = timedelta(hours=1)
SOURCES = load_sources(SETTINGS.sources_path).sources


@dag(**dag_args("config_driven_pipeline", "0 * * * *", tags=["social", "market", "news"], doc=__doc__,
                dagrun_timeout=timedelta(minutes=50)))
def config_driven_pipeline() -> None:
    @task
    def ingest(source: str) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
        from extdata.http import Fetcher
        from extdata.records import interval_prefix, land, publish, raw_key
        from extdata.sources import fetch_pages, page_limit_error, to_records

        spec = next(s for s in load_sources(SETTINGS.sources_path).sources if s.name == source)
        interval, run_id = current_interval(PERIOD)
        if not spec.due(interval):
            raise AirflowSkipException(f"{source} is fetched every {spec.every_hours} h; not due in {interval.tag}")
        with Fetcher(SETTINGS) as fetcher:
            fetched = fetch_pages(spec, interval, fetcher, SETTINGS)
        records = to_records(spec, fetched.pages, interval, run_id, keep_payload=SETTINGS.keep_payload)
        keys = land({raw_key(SETTINGS.raw_prefix, source, interval, f"page-{i:04d}"): p
                     for i, p in enumerate(fetched.pages, 1)},
                    replace=[interval_prefix(SETTINGS.raw_prefix, source, interval)])
        published = publish(records, client_id=f"dags-{source}")
        if (cut := page_limit_error(spec, fetched, interval, published)) is not None:
            raise AirflowFailException(str(cut))  # no retry: it would hit the same limit; the alert fires
        return {"source": source, "pages": len(fetched.pages), "truncated": fetched.truncated,
                "records": published, "raw_keys": keys}

    for spec in SOURCES:
        ingest.override(task_id=f"ingest_{spec.name}", pool=spec.pool or "default_pool",
                        outlets=[asset(spec.name)])(spec.name)


dag_object = config_driven_pipeline()
