"""One way to call an external API: retries on 5xx/429/timeouts with backoff, errors naming the source.

    >>> from extdata.http import Fetcher
    >>> with Fetcher(DagSettings()) as f:
    ...     body = f.get_json("weather", "https://api.open-meteo.com/v1/forecast", {"latitude": 16.05})
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from extdata.exceptions import SourceError
from extdata.settings import DagSettings

log = logging.getLogger("extdata.http")
RETRYABLE = {429, 500, 502, 503, 504}


class Fetcher:
    """An ``httpx.Client`` with the DAGs' retry policy. Counts calls, for the run summary."""

    def __init__(self, settings: DagSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.calls = 0
        self._last_call: dict[str, float] = {}
        self._client = client or httpx.Client(
            timeout=settings.http_timeout_s, headers={"User-Agent": settings.user_agent}, follow_redirects=True
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def get_json(
        self, source: str, url: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
        min_interval_s: float = 0.0,
    ) -> Any:
        """GET ``url`` and parse JSON; after ``http_attempts`` failures raise ``SourceError`` naming ``source``.
        ``min_interval_s`` spaces calls to the same host (APIs with a rate policy, e.g. Nominatim's 1/s)."""
        if min_interval_s:
            host = url.split("/")[2]
            wait = self._last_call.get(host, 0.0) + min_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_call[host] = time.monotonic()
        attempts = self.settings.http_attempts
        last = ""
        for attempt in range(1, attempts + 1):
            self.calls += 1
            try:
                resp = self._client.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                last = f"timed out after {self.settings.http_timeout_s:g}s"
            except httpx.TransportError as exc:
                last = f"unreachable ({exc.__class__.__name__}: {exc})"
            else:
                if resp.status_code in RETRYABLE:
                    last = f"answered HTTP {resp.status_code}"
                elif resp.status_code >= 400:
                    raise SourceError(source, f"GET {_short(url)} answered HTTP {resp.status_code}: "
                                              f"{resp.text[:200]!r} — check the request in the source config")
                else:
                    try:
                        return resp.json()
                    except ValueError:
                        raise SourceError(source, f"GET {_short(url)} answered non-JSON "
                                                  f"({resp.headers.get('content-type', '?')})") from None
            if attempt < attempts:
                delay = self.settings.http_backoff_s * 2 ** (attempt - 1)
                log.warning("source %s: GET %s %s — retry %d/%d in %.1fs", source, _short(url), last,
                            attempt, attempts - 1, delay)
                time.sleep(delay)
        raise SourceError(source, f"GET {_short(url)} {last} ({attempts} attempts) — nothing published "
                                  "for this source; the task retries, or rerun the interval")


def _short(url: str) -> str:
    return url.split("?", 1)[0]
