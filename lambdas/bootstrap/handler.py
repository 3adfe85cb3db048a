"""Bootstrap Lambda: applies the topic catalog, registers the schemas and, in AWS, the database objects
(invoked by Terraform on every relevant apply). Its own settings: ``settings.py`` (``EB_BOOTSTRAP_*``);
connections: the shared ``eventbus.settings.Settings``; the work: ``apply.py``.
"""

from __future__ import annotations

from typing import Any

from eventbus.logging import configure_logging
from eventbus.settings import get_settings
from lambdas.bootstrap.apply import apply_all
from lambdas.bootstrap.settings import BootstrapSettings


def handler(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    settings = get_settings()
    configure_logging(settings)
    report = apply_all(settings, BootstrapSettings())
    return {"ok": True, **report.as_dict()}
