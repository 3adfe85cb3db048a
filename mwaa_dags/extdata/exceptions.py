"""Errors of the external-data DAGs. Each message names the source (or the config key) and what to do."""

from __future__ import annotations


class ExtDataError(Exception):
    """Base class."""


class SourceError(ExtDataError):
    """An external source could not be fetched or its answer was not what the config says."""

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        super().__init__(f"source {source!r}: {detail}")


class HTTPStatusError(SourceError):
    """The API answered a 4xx that retrying will not fix (a 429 is retried, not raised as this)."""

    def __init__(self, source: str, detail: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(source, detail)


class PageLimitError(SourceError):
    """The API had more pages than ``max_pages``: what was fetched is published, the rest is not — a rerun hits the
    same limit, so the task fails at once (no retries) and the failure alert fires."""


class ConfigError(ExtDataError):
    """The declarative source config (or the destinations file) is invalid."""
