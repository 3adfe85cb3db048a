"""The replayed external APIs: ``ROUTES`` maps (host, path) to a handler of ``base.Request``.

Each answer has the real API's shape and failure behaviour (the modules' docstrings say which, the README
names the sources); values come from ``recordings/`` plus a random generator seeded by (API, place/query,
date), so the same request always gets the same answer and a different date different, plausible numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from local.replay import maps, market, social, weather
from local.replay.base import Answer, Request

Handler = Callable[[re.Match[str], Request], Answer]

#: (host, path regex, handler). A host not listed here gets a 404 naming the recorded ones.
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("api.open-meteo.com", re.compile(r"^/v1/forecast$"), lambda m, r: weather.forecast(r)),
    ("archive-api.open-meteo.com", re.compile(r"^/v1/archive$"), lambda m, r: weather.archive(r)),
    ("nominatim.openstreetmap.org", re.compile(r"^/search$"), lambda m, r: maps.nominatim_search(r)),
    ("overpass-api.de", re.compile(r"^/api/interpreter$"), lambda m, r: maps.overpass_interpreter(r)),
    ("public.api.bsky.app", re.compile(r"^/xrpc/app\.bsky\.feed\.searchPosts$"), lambda m, r: social.search_public(r)),
    ("api.bsky.app", re.compile(r"^/xrpc/app\.bsky\.feed\.searchPosts$"), lambda m, r: social.search_public(r)),
    ("bsky.social", re.compile(r"^/xrpc/app\.bsky\.feed\.searchPosts$"), lambda m, r: social.search_authenticated(r)),
    ("bsky.social", re.compile(r"^/xrpc/com\.atproto\.server\.createSession$"), lambda m, r: social.create_session(r)),
    ("api.frankfurter.dev", re.compile(r"^/v1/(\d{4}-\d{2}-\d{2})$"), lambda m, r: market.rates(m.group(1), r)),
    ("hn.algolia.com", re.compile(r"^/api/v1/search_by_date$"), lambda m, r: social.hn_search_by_date(r)),
]

HOSTS = sorted({h for h, _, _ in ROUTES})


def call(host: str, path: str, query: dict[str, str] | None = None, **kw: Any) -> Answer:
    """In-process: what the server answers for ``https://host/path?query`` (tests compute expectations)."""
    for route_host, pattern, handler in ROUTES:
        if route_host == host and (m := pattern.match(path)):
            return handler(m, Request(method=kw.pop("method", "GET"), query=query or {}, **kw))
    return Answer(404, {"error": f"no route {host}{path}"})
