"""Bluesky (``app.bsky.feed.searchPosts``, ``com.atproto.server.createSession``) and HN Algolia.

Bluesky as it behaves (sources: local/replay/README.md):

* ``public.api.bsky.app`` / ``api.bsky.app`` (the AppView, no auth): the first page answers, but a request
  carrying ``cursor`` is refused by the reverse proxy with a plain-text **403** "Request forbidden by
  administrative rules." (bluesky-social/atproto#2838, #3583; bsky-docs#296). Public search is also switched
  off altogether at times (#3423) — inject fault mode ``403`` for that.
* ``bsky.social`` (a PDS): ``createSession`` with a handle and an **app password** (``xxxx-xxxx-xxxx-xxxx``)
  gives an ``accessJwt``; ``searchPosts`` with ``Authorization: Bearer`` is proxied to the AppView and pages
  through ``cursor``. Without a valid token: 401 ``AuthenticationRequired``.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from local.replay.base import Answer, Request, recording, rng

APP_PASSWORD = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$")
FORBIDDEN = ("<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center>"
             "Request forbidden by administrative rules.</body></html>")


def _xrpc_error(status: int, error: str, message: str) -> Answer:
    return Answer(status, {"error": error, "message": message})


def _token(identifier: str) -> str:
    return "replay." + hashlib.sha256(f"replay-session|{identifier}".encode()).hexdigest()[:32]


def create_session(req: Request) -> Answer:
    if req.method != "POST":
        return _xrpc_error(405, "InvalidRequest", "createSession is a procedure: POST it")
    try:
        body = req.json()
        identifier, password = str(body["identifier"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return _xrpc_error(400, "InvalidRequest", 'Input must have the property "identifier" and "password"')
    if not APP_PASSWORD.match(password):
        return _xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
    did = "did:plc:" + hashlib.sha1(identifier.encode()).hexdigest()[:24]
    return Answer(200, {"accessJwt": _token(identifier), "refreshJwt": "refresh." + _token(identifier),
                        "handle": identifier, "did": did, "active": True})


def search_public(req: Request) -> Answer:
    """The AppView without auth: a cursor page is refused by the proxy, whatever the query."""
    if req.query.get("cursor"):
        return Answer(403, FORBIDDEN)
    return _search(req)


def search_authenticated(req: Request) -> Answer:
    """The PDS: only with a session token (then every page, cursor included)."""
    auth = req.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return _xrpc_error(401, "AuthenticationRequired", "Authentication Required")
    if not auth[7:].startswith("replay.") or len(auth[7:]) != 39:
        return _xrpc_error(400, "InvalidToken", "Token could not be verified")
    return _search(req)


def _search(req: Request) -> Answer:
    q, rec = req.query, recording("bluesky")
    if not q.get("q"):
        return _xrpc_error(400, "InvalidRequest", 'Error: Params must have the property "q"')
    try:
        limit = int(q.get("limit", 25))
        offset = int(q.get("cursor") or 0)
        since = datetime.fromisoformat(q["since"].replace("Z", "+00:00")) if q.get("since") else None
        until = datetime.fromisoformat(q["until"].replace("Z", "+00:00")) if q.get("until") else None
    except ValueError as exc:
        return _xrpc_error(400, "InvalidRequest", f"Error: {exc}")
    if not 1 <= limit <= 100:
        return _xrpc_error(400, "InvalidRequest", "Error: limit can not be greater than 100")
    if since is None or until is None:  # the DAG always bounds its interval; unbounded = the last day
        until = until or datetime.combine(req.today, datetime.min.time(), UTC)
        since = since or until - timedelta(days=1)
    posts = _posts(q["q"], since, until, rec)
    page = posts[offset: offset + limit]
    body: dict[str, Any] = {"posts": page, "hits_total": len(posts)}
    if offset + limit < len(posts):
        body["cursor"] = str(offset + limit)
    return Answer(200, body)


def _posts(query: str, since: datetime, until: datetime, rec: dict[str, Any]) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = []
    hour = since.replace(minute=0, second=0, microsecond=0)
    while hour < until:
        r = rng("bsky", query, hour.isoformat())
        local = (hour.hour + 7) % 24
        for j in range(round(r.uniform(10, 30) * (0.3 if local < 7 else 1.0))):
            ts = hour + timedelta(seconds=r.randrange(3600))
            if not since <= ts < until:
                continue
            handle = r.choice(rec["handles"])
            rid = hashlib.sha1(f"{handle}{ts.isoformat()}{j}".encode()).hexdigest()
            did = "did:plc:" + hashlib.sha1(handle.encode()).hexdigest()[:24]
            text = r.choice(rec["texts"]).format(d=r.choice(rec["destinations"]))
            stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            posts.append({  # app.bsky.feed.defs#postView
                "uri": f"at://{did}/app.bsky.feed.post/3l{rid[:11]}", "cid": "bafyrei" + rid[:40],
                "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0], "labels": [],
                           "createdAt": "2024-11-02T09:14:21.000Z"},
                "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": stamp,
                           "langs": [r.choice(rec["langs"])]},
                "replyCount": r.randint(0, 6), "repostCount": r.randint(0, 12),
                "likeCount": int(r.paretovariate(1.3)) - 1,
                "quoteCount": r.randint(0, 2), "indexedAt": stamp, "labels": [],
            })
        hour += timedelta(hours=1)
    posts.sort(key=lambda p: p["indexedAt"], reverse=True)
    return posts


# --- HN Algolia /api/v1/search_by_date -------------------------------------------------------------
def hn_search_by_date(req: Request) -> Answer:
    q, rec = req.query, recording("hn-algolia")
    bounds = dict(re.findall(r"created_at_i(>=|<)(\d+)", q.get("numericFilters", "")))
    if ">=" not in bounds or "<" not in bounds:
        return Answer(400, {"message": "numericFilters must bound created_at_i (>= and <)", "status": 400})
    lo, hi = int(bounds[">="]), int(bounds["<"])
    per_page, page = min(int(q.get("hitsPerPage", 20)), 1000), int(q.get("page", 0))
    hits = []
    for hour_start in range(lo - lo % 3600, hi, 3600):
        r = rng("hn", q.get("query", ""), hour_start)
        for j in range(r.randint(2, 14)):
            ts = hour_start + r.randrange(3600)
            if not lo <= ts < hi:
                continue
            oid = str(30_000_000 + (hour_start - 1_600_000_000) // 3600 * 20 + j)
            hits.append({
                "objectID": oid, "story_id": int(oid), "title": r.choice(rec["titles"]),
                "url": f"https://{r.choice(rec['domains'])}/{oid}", "author": r.choice(rec["authors"]),
                "points": int(r.paretovariate(1.1)), "num_comments": r.randint(0, 40), "created_at_i": ts,
                "created_at": datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "_tags": ["story", f"story_{oid}"],
            })
    hits.sort(key=lambda h: h["created_at_i"], reverse=True)
    pages = max(1, math.ceil(len(hits) / per_page))
    return Answer(200, {"hits": hits[page * per_page:(page + 1) * per_page], "nbHits": len(hits), "page": page,
                        "nbPages": pages, "hitsPerPage": per_page, "exhaustiveNbHits": True,
                        "query": q.get("query", ""), "processingTimeMS": 1,
                        "params": "&".join(f"{k}={v}" for k, v in sorted(q.items()))})
