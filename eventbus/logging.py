"""One logger setup: JSON lines on stderr with a timestamp, level, logger and any ``extra`` fields.

    >>> from eventbus.logging import configure_logging, get_logger
    >>> configure_logging()
    >>> get_logger("gateway").info("accepted", extra={"request_id": "r-1"})
"""

from __future__ import annotations

import json
import logging
import sys
import time

from eventbus.settings import Settings, get_settings

# LogRecord's own attributes, plus uvicorn's ANSI-coloured duplicate of the message.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class _CurrentStderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record is emitted, not as it was when logging was configured:
    a test runner or a daemon swaps it, and a handler that kept a closed stream turns a library's last log
    line at exit (py4j's "Closing down clientserver connection") into a "--- Logging error ---" traceback."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(settings: Settings | None = None) -> None:
    """Install the handler on the root logger once (idempotent)."""
    settings = settings or get_settings()
    root = logging.getLogger()
    if any(getattr(h, "_eventbus", False) for h in root.handlers):
        root.setLevel(settings.log_level)
        return
    handler = _CurrentStderr()
    handler._eventbus = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter() if settings.log_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(settings.log_level)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
