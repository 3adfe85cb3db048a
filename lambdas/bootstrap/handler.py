"""Bootstrap Lambda: applies the topic catalog and registers the schemas (invoked once per apply)."""

from __future__ import annotations

from typing import Any

from eventbus.bootstrap import apply_all
from eventbus.logging import configure_logging
from eventbus.settings import get_settings


def handler(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, Any]:
    settings = get_settings()
    configure_logging(settings)
    report = apply_all(settings)
    return {"ok": True, **report.as_dict()}
