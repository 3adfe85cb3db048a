"""Bootstrap Lambda: applies the topic catalog and registers the schemas (invoked once per apply).

Its own settings (``EB_BOOTSTRAP_*``) name what only the bootstrap needs; connections are the shared
``eventbus.settings.Settings``.
"""

from __future__ import annotations

from typing import Any

from pydantic_settings import SettingsConfigDict

from eventbus.bootstrap import apply_all
from eventbus.logging import configure_logging
from eventbus.settings import ComponentSettings, get_settings


class BootstrapSettings(ComponentSettings):
    """``EB_BOOTSTRAP_*``: set by Terraform on the bootstrap Lambda."""

    model_config = SettingsConfigDict(env_prefix="EB_BOOTSTRAP_")

    #: Secret of the OLTP workload's login role (JSON username/password); the bootstrap creates the role
    #: with DML on the OLTP tables only. Unset = no such role (e.g. the local stack).
    app_secret_arn: str | None = None
    #: Secret of the DAGs' login role (MWAA); the bootstrap creates it with SELECT on the tables the DAGs
    #: query only. Unset = no such role.
    dags_secret_arn: str | None = None


def handler(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    settings = get_settings()
    configure_logging(settings)
    own = BootstrapSettings()
    report = apply_all(settings, app_secret_arn=own.app_secret_arn, dags_secret_arn=own.dags_secret_arn)
    return {"ok": True, **report.as_dict()}
