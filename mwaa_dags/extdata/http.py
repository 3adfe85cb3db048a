"""One way to call an external API: retries with backoff that honours ``Retry-After``, errors naming the source.

    >>> from extdata.http import Fetcher
    >>> with Fetcher(DagSettings()) as f:
    ...     body = f.get_json("weather", "https://api.open-meteo.com/v1/forecast", {"latitude": 16.05})

Retried: 5xx, 408, 429 and timeouts. The wait before attempt n+1 is ``http_backoff_s * 2**(n-1)`` with
jitter, capped at ``http_backoff_max_s`` — or the server's ``Retry-After`` when it sends one (RFC 9110
§10.2.3: seconds or an HTTP date), up to ``http_retry_after_max_s``; a server asking for longer fails the
call at once, naming the wait (the Airflow task retry comes later). Any other 4xx raises
``HTTPStatusError`` at once: a request the API refuses is not fixed by sending it again.
"""

from __future__ import annotations

import logging
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from extdata.exceptions import HTTPStatusError, SourceError
from extdata.settings import DagSettings

log = logging.getLogger("extdata.http")
RETRYABLE = {408, 429, 500, 502, 503, 504}
#: What a 4xx most likely means, per status (the API's own text follows in the message).
HINTS = {
    401: "the API wants credentials — declare `auth` for this source (see mwaa_dags/README.md)",
    403: "the host refuses this request — e.g. Bluesky's public AppView refuses unauthenticated `cursor` pages "
         "(bluesky-social/atproto#2838): declare `auth`; or a blocked User-Agent",
    404: "the path or a parameter names something the API does not have (e.g. a currency Frankfurter /v1 lacks)",
}


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
        min_interval_s: float = 0.0, timeout_s: float | None = None,
    ) -> Any:
        """GET ``url`` and parse JSON; ``min_interval_s`` spaces calls to one host (Nominatim's 1/s policy);
        ``timeout_s`` overrides the client timeout (Overpass: longer than the query's own ``[timeout:N]``)."""
        return self.request(source, "GET", url, params=params, headers=headers, min_interval_s=min_interval_s,
                            timeout_s=timeout_s)

    def post_json(self, source: str, url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.request(source, "POST", url, json_body=body, headers=headers)

    def request(
        self, source: str, method: str, url: str, *, params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, json_body: Any = None, min_interval_s: float = 0.0,
        timeout_s: float | None = None,
    ) -> Any:
        s = self.settings
        timeout = timeout_s or s.http_timeout_s
        last = ""
        for attempt in range(1, s.http_attempts + 1):
            self._space(url, min_interval_s)
            self.calls += 1
            retry_after: float | None = None
            try:
                resp = self._client.request(method, url, params=params, headers=headers, json=json_body,
                                            timeout=timeout)
            except httpx.TimeoutException:
                last = f"timed out after {timeout:g}s"
            except httpx.TransportError as exc:
                last = f"unreachable ({exc.__class__.__name__}: {exc})"
            else:
                if resp.status_code in RETRYABLE:
                    last = f"answered HTTP {resp.status_code}"
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    if retry_after is not None and retry_after > s.http_retry_after_max_s:
                        raise SourceError(source, f"{method} {_short(url)} answered HTTP {resp.status_code} asking "
                                                  f"to wait {retry_after:g}s (more than EB_DAGS_HTTP_RETRY_AFTER_MAX_S"
                                                  f"={s.http_retry_after_max_s:g}) — nothing published; the task "
                                                  "retries later")
                elif resp.status_code >= 400:
                    hint = HINTS.get(resp.status_code, "check the request in the source config")
                    raise HTTPStatusError(source, f"{method} {_short(url)} answered HTTP {resp.status_code}: "
                                                  f"{resp.text[:200]!r} — {hint}", resp.status_code, resp.text)
                else:
                    try:
                        return resp.json()
                    except ValueError:
                        raise SourceError(source, f"{method} {_short(url)} answered non-JSON "
                                                  f"({resp.headers.get('content-type', '?')})") from None
            if attempt < s.http_attempts:
                delay = self.delay(attempt, retry_after)
                log.warning("source %s: %s %s %s — retry %d/%d in %.1fs%s", source, method, _short(url), last,
                            attempt, s.http_attempts - 1, delay, " (Retry-After)" if retry_after is not None else "")
                time.sleep(delay)
        raise SourceError(source, f"{method} {_short(url)} {last} ({s.http_attempts} attempts) — nothing published "
                                  "for this source; the task retries, or rerun the interval")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when given, else exponential backoff with ±25 % jitter, capped."""
        if retry_after is not None:
            return retry_after
        base = min(self.settings.http_backoff_s * 2 ** (attempt - 1), self.settings.http_backoff_max_s)
        return base * random.uniform(0.75, 1.25)

    def _space(self, url: str, min_interval_s: float) -> None:
        if not min_interval_s:
            return
        host = url.split("/")[2]
        wait = self._last_call.get(host, 0.0) + min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_call[host] = time.monotonic()


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After: 120`` or ``Retry-After: Fri, 04 Dec 2026 16:00:00 GMT`` → seconds (>= 0); else None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))  # RFC: an integer; a fraction is accepted (the replay server's drills)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(url: str) -> str:
    return url.split("?", 1)[0]
