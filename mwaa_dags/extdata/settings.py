"""The DAGs' own settings (``EB_DAGS_*``); connections (Kafka, S3, PostgreSQL) come from ``eventbus``.

    >>> from extdata.settings import DagSettings
    >>> s = DagSettings(replay_url="http://127.0.0.1:8090")
    >>> s.url("https://api.open-meteo.com", "/v1/forecast")
    'http://127.0.0.1:8090/api.open-meteo.com/v1/forecast'
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eventbus.settings import ComponentSettings

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
LOCAL_REPLAY_URL = "http://127.0.0.1:8090"


class DagSettings(ComponentSettings):
    """Base URLs of the external APIs, HTTP and retry policy, where the declarative config lives."""

    model_config = SettingsConfigDict(env_prefix="EB_DAGS_")

    #: Open-Meteo forecast API (no key; serves about 92 days back) and its archive (reanalysis, 1940 to a few
    #: days ago) for older intervals.
    weather_url: str = "https://api.open-meteo.com"
    weather_archive_url: str = "https://archive-api.open-meteo.com"
    #: Intervals starting at most this many days ago use the forecast API (its window is 92 days: a margin).
    weather_forecast_past_days: int = Field(default=90, ge=0, le=92)
    #: Nominatim geocoding API (no key; 1 request/s policy — the DAG is daily and small).
    geocode_url: str = "https://nominatim.openstreetmap.org"
    #: Seconds between two geocoding calls to the real API (Nominatim's usage policy: at most 1 per second).
    geocode_interval_s: float = Field(default=1.1, ge=0)
    #: Re-geocode a destination after this many days (Nominatim's policy asks clients to cache results).
    geocode_cache_days: int = Field(default=30, ge=0)
    #: Overpass API (points of interest from OpenStreetMap).
    poi_url: str = "https://overpass-api.de"
    #: The Overpass query's own ``[timeout:N]``; the client waits N + ``http_timeout_s`` for the answer, so it
    #: never gives up (and re-sends) while the server is still within the time it was granted.
    poi_query_timeout_s: int = Field(default=25, ge=1, le=180)
    #: Send every external call to this replay server instead (the API's host becomes the first path
    #: segment). Default: the local replay server in the ``local`` profile, the real APIs in ``aws``.
    replay_url: str | None = None
    #: Seconds before one HTTP call counts as timed out.
    http_timeout_s: float = Field(default=10.0, gt=0)
    #: Attempts per HTTP call (5xx, 429 and timeouts are retried with exponential backoff).
    http_attempts: int = Field(default=3, ge=1, le=10)
    http_backoff_s: float = Field(default=1.0, ge=0)
    http_backoff_max_s: float = Field(default=30.0, ge=0)
    #: Honour a server's Retry-After up to this many seconds; a longer wait fails the call (the task retries).
    http_retry_after_max_s: float = Field(default=120.0, ge=0)
    #: Airflow task retries after the HTTP attempts are exhausted, and the delay between them.
    task_retries: int = Field(default=2, ge=0, le=10)
    retry_delay_s: float = Field(default=300.0, ge=0)
    #: Where ``auth.secret`` names are looked up after the environment (see extdata/secrets.py).
    secrets_dir: Path | None = None
    secret_prefix: str = "travel-data-sources/dags/"
    #: DAG failures: a CloudWatch metric (``EB_DAGS_ALERT_NAMESPACE`` / DagRunFailed, dimension DagId) —
    #: the emulator's CloudWatch locally, read by the console.
    alert_namespace: str = "TravelDataSources/DAGs"
    #: Raw responses land under s3://<lake_bucket>/<raw_prefix>/<source>/...
    raw_prefix: str = "raw/external"
    sources_path: Path = CONFIG_DIR / "sources.yaml"
    destinations_path: Path = CONFIG_DIR / "destinations.yaml"
    user_agent: str = "travel-data-sources/0.1 (data platform ingestion; contact: data-eng)"
    #: Keep each record's raw JSON in ``payload_json``.
    keep_payload: bool = True

    def replay(self) -> str | None:
        if self.replay_url is not None:
            return self.replay_url.rstrip("/") or None
        from eventbus.settings import get_settings

        return LOCAL_REPLAY_URL if get_settings().profile == "local" else None

    def url(self, base_url: str, path: str = "") -> str:
        """The URL to call for ``base_url`` + ``path``: the real API, or the replay server's copy of it."""
        full = base_url.rstrip("/") + path
        replay = self.replay()
        if not replay:
            return full
        parts = urlsplit(full)
        return f"{replay}/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")
