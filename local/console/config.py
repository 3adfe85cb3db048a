"""The console's own settings (``EB_CONSOLE_*``); connections come from ``eventbus.settings``.

    >>> from local.console.config import ConsoleSettings
    >>> ConsoleSettings().port
    8088
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from eventbus.paths import local_state_dir
from eventbus.settings import ComponentSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConsoleSettings(ComponentSettings):
    """Where the console listens, how far it reads, and where the side panels look."""

    model_config = SettingsConfigDict(env_prefix="EB_CONSOLE_")

    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=1, le=65535)
    #: Every Kafka/HTTP/SQL read of one API call ends within this many seconds (then 4xx, never a hang).
    timeout_s: float = Field(default=4.0, gt=0, le=60)
    #: At most this many records are read per topic per request (a large topic never stalls the page).
    max_scan: int = Field(default=20_000, ge=100)
    #: Upper bound of ``limit`` on the messages page and in ``peek``.
    max_limit: int = Field(default=500, ge=1)
    #: End offsets of every topic are sampled this often; the in-rate chart keeps ``rate_window_s``.
    sample_every_s: float = Field(default=10.0, ge=1)
    rate_window_s: int = Field(default=900, ge=60)
    #: Side sources. Empty = not configured (the panel says so).
    cdc_status_url: str = "http://127.0.0.1:9187/status"
    simulators_status_url: str = "http://127.0.0.1:9188/status"
    airflow_url: str = "http://127.0.0.1:8080"
    airflow_user: str = "admin"
    airflow_password: SecretStr = SecretStr("admin")
    #: Database of Airflow's metadata (``dag_run`` table), read when the REST API does not answer.
    airflow_database: str = "airflow"
    spark_ui_url: str = "http://127.0.0.1:4040"
    #: Where the Spark driver writes each query's last progress (``<name>.json``); see emr_jobs/README.md.
    spark_progress_dir: Path | None = None

    def progress_dir(self) -> Path:
        env = os.environ.get("EB_SPARK_PROGRESS_DIR")
        if self.spark_progress_dir is not None:
            return self.spark_progress_dir
        return Path(env) if env else local_state_dir() / "spark" / "progress"
