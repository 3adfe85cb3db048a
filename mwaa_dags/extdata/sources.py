"""Declarative REST sources (the shape of dlt's ``rest_api`` config), read from ``config/sources.yaml``.

A source is one YAML entry: base URL, endpoint path and params, paginator, record path, field mapping.
``fetch_pages`` is the one fetch path for all of them; ``to_records`` maps records onto ExternalData.

    >>> cfg = load_sources(Path("mwaa_dags/config/sources.yaml"))
    >>> [s.name for s in cfg.sources]
    ['social_bluesky', 'market_fx', 'news_hackernews']

Values in ``path`` and ``params`` may use the run's interval: ``{start_ts}`` ``{end_ts}`` (epoch s),
``{start_iso}`` ``{end_iso}``, ``{start_date}`` ``{end_date}``.

``auth`` (dlt's ``auth`` block): ``{type: bearer, secret: NAME}`` sends ``Authorization: Bearer <secret>``;
``{type: session, login_url, identifier, secret, token_path}`` first POSTs ``{identifier, password: <secret>}``
to ``login_url`` (an XRPC ``createSession``) and sends the token it returns — once per task, since logins
are rate limited. Secrets are resolved by ``extdata.secrets`` (env, a file, Secrets Manager).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from extdata.exceptions import ConfigError, PageLimitError, SourceError
from extdata.http import Fetcher
from extdata.records import Interval, make_record
from extdata.secrets import resolve_secret
from extdata.settings import DagSettings

log = logging.getLogger("extdata.sources")
NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SinglePage(_Strict):
    type: Literal["single_page"]


class PageNumber(_Strict):
    """``?page=N`` until ``total_path`` pages were read (or a page comes back empty)."""

    type: Literal["page_number"]
    page_param: str = "page"
    base_page: int = 0
    total_path: str | None = None


class Cursor(_Strict):
    """The next page's cursor is in the body at ``cursor_path``; sent back as ``cursor_param``."""

    type: Literal["cursor"]
    cursor_path: str
    cursor_param: str = "cursor"


Paginator = Annotated[SinglePage | PageNumber | Cursor, Field(discriminator="type")]


class Endpoint(_Strict):
    path: str
    params: dict[str, str | int | float | bool] = {}
    headers: dict[str, str] = {}
    paginator: Paginator = SinglePage(type="single_page")
    #: Dotted path of the record list in each page ("" = the body itself). A mapping becomes one record
    #: per key: ``{"key": k, "value": v}``.
    record_path: str = ""
    #: Past this many pages the source stops, publishes what it fetched, then fails the task naming the
    #: limit (``page_limit_error``): the pages beyond are not fetched, and a rerun would hit the same limit.
    max_pages: int = Field(default=20, ge=1, le=1000)
    #: Dotted path, in each page, of the day its data is for (Frankfurter's ``date``: the business day whose
    #: rates it returned). The records' data interval becomes that day, so every run that gets the same
    #: day's answer writes the same record ids: one record per business day.
    interval_date_path: str | None = None
    #: For mapping records: every comma-separated value of this request param must come back as a key
    #: (Frankfurter /v1 silently leaves out a currency the ECB does not publish).
    require_keys_from_param: str | None = None


class BearerAuth(_Strict):
    type: Literal["bearer"]
    secret: str


class SessionAuth(_Strict):
    """Log in once per task (e.g. Bluesky's ``com.atproto.server.createSession`` with an app password)."""

    type: Literal["session"]
    login_url: str
    identifier: str
    secret: str
    token_path: str = "accessJwt"


Auth = Annotated[BearerAuth | SessionAuth, Field(discriminator="type")]


class Fields(_Strict):
    """Where each ExternalData field comes from, as dotted paths into one record."""

    entity: str
    #: Epoch seconds/millis or ISO-8601; missing = the interval's start.
    observed_ts: str | None = None
    metrics: dict[str, str] = {}
    attributes: dict[str, str] = {}


class Source(_Strict):
    name: str
    kind: Literal["social", "market", "news", "travel_trends", "weather", "maps"]
    base_url: str
    endpoint: Endpoint
    fields: Fields
    keep_payload: bool = True
    auth: Auth | None = None
    #: The Airflow pool of this source's task: one pool per rate-limited host (config/pools.yaml).
    pool: str | None = None
    #: Fetch only in runs whose interval starts on a multiple of this many hours (UTC); the others skip the
    #: source. Frankfurter's rates change once a business day: ``every_hours: 24``.
    every_hours: int = Field(default=1, ge=1, le=24 * 7)

    def due(self, interval: Interval) -> bool:
        return int(interval.start.timestamp()) % (self.every_hours * 3600) == 0


class SourcesFile(_Strict):
    sources: list[Source]


def load_sources(path: Path) -> SourcesFile:
    """Parse and validate the file; an unknown or missing key fails with its place named."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the source config: {exc}") from None
    try:
        cfg = SourcesFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_explain(raw, exc)}") from None
    names = [s.name for s in cfg.sources]
    for name in names:
        if not NAME.match(name):
            raise ConfigError(f"{path}: source name {name!r} must be lower_snake_case (it is the record's source)")
        if names.count(name) > 1:
            raise ConfigError(f"{path}: source name {name!r} is declared twice")
    return cfg


def _explain(raw: Any, exc: ValidationError) -> str:
    """Unknown keys first (a misspelt key is also a missing one), then the rest; at most three."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    return "; ".join(_explain_one(raw, err) for err in errors[:3])


def _explain_one(raw: Any, err: Any) -> str:
    loc = list(err["loc"])
    where = "top level"
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        try:
            where = f"source {raw['sources'][loc[1]].get('name', '#' + str(loc[1]))!r}"
        except (KeyError, IndexError, TypeError, AttributeError):
            where = f"source #{loc[1]}"
        loc = loc[2:]
    # Drop the discriminator tags pydantic puts in the location (e.g. 'cursor').
    key = ".".join(str(p) for p in loc if p not in ("single_page", "page_number", "cursor", "bearer", "session"))
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key {key!r} — fix the spelling (see mwaa_dags/README.md, 'Adding a source')"
    if err["type"] == "missing":
        return f"{where}: missing key {key!r}"
    return f"{where}: key {key!r}: {err['msg']}"


# --- the one fetch path -------------------------------------------------------------------------
def dig(obj: Any, path: str) -> Any:
    """``dig({"a": {"b": [1]}}, "a.b")`` → ``[1]``; list items by index (``items.0.id``). Missing → None."""
    if not path:
        return obj
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _render(value: Any, interval: Interval, source: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return value.format_map(interval.placeholders())
    except KeyError as exc:
        raise SourceError(source, f"unknown placeholder {{{exc.args[0]}}} in {value!r} — "
                                  f"use one of {sorted(interval.placeholders())}") from None


def records_of(source: Source, page: Any) -> list[Any]:
    found = dig(page, source.endpoint.record_path)
    if isinstance(found, dict):
        return [{"key": k, "value": v} for k, v in sorted(found.items())]
    if not isinstance(found, list):
        raise SourceError(source.name, f"record_path {source.endpoint.record_path!r} is not a list in the "
                                       f"answer (got {type(found).__name__}) — check the source config")
    return found


@dataclass
class Fetched:
    pages: list[Any]
    #: ``max_pages`` stopped the paging before the API ran out of pages.
    truncated: bool = False


def auth_headers(source: Source, fetcher: Fetcher, settings: DagSettings) -> dict[str, str]:
    """The headers ``source.auth`` asks for (a session login happens here, once per call of fetch_pages)."""
    auth = source.auth
    if auth is None:
        return {}
    secret = resolve_secret(auth.secret, settings)
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {secret}"}
    session = fetcher.post_json(source.name, settings.url(auth.login_url),
                                {"identifier": auth.identifier, "password": secret})
    token = dig(session, auth.token_path)
    if not token:
        raise SourceError(source.name, f"login at {auth.login_url} answered no {auth.token_path!r}")
    return {"Authorization": f"Bearer {token}"}


def fetch_pages(source: Source, interval: Interval, fetcher: Fetcher, settings: DagSettings) -> Fetched:
    """Every page of ``source`` for ``interval`` (up to ``max_pages``); raises ``SourceError`` before returning
    anything partial."""
    ep = source.endpoint
    url = settings.url(source.base_url, _render(ep.path, interval, source.name))
    params = {k: _render(v, interval, source.name) for k, v in ep.params.items()}
    headers = {**ep.headers, **auth_headers(source, fetcher, settings)}
    pag = ep.paginator
    pages: list[Any] = []
    page_no = pag.base_page if isinstance(pag, PageNumber) else 0
    while True:
        if len(pages) >= ep.max_pages:
            log.warning("source %s: stopped at max_pages=%d for %s — more pages were on offer; the task will "
                        "publish these, then fail (raise max_pages)", source.name, ep.max_pages, interval.tag)
            return Fetched(pages, truncated=True)
        if isinstance(pag, PageNumber):
            params[pag.page_param] = page_no
        body = fetcher.get_json(source.name, url, params, headers or None)
        pages.append(body)
        if isinstance(pag, SinglePage):
            break
        if isinstance(pag, PageNumber):
            page_no += 1
            total = dig(body, pag.total_path) if pag.total_path else None
            if not records_of(source, body) or (total is not None and page_no - pag.base_page >= int(total)):
                break
        else:
            cursor = dig(body, pag.cursor_path)
            if not cursor or not records_of(source, body):
                break
            params[pag.cursor_param] = cursor
    if ep.require_keys_from_param:
        wanted = {v for v in str(params.get(ep.require_keys_from_param, "")).split(",") if v}
        for page in pages:
            missing = sorted(wanted - {r["key"] for r in records_of(source, page)})
            if missing:
                raise SourceError(source.name, f"the answer has no {', '.join(missing)} although "
                                               f"{ep.require_keys_from_param}= asked for it — the API does not "
                                               "serve it (Frankfurter /v1: ECB currencies only); remove it")
    return Fetched(pages)


def page_limit_error(source: Source, fetched: Fetched, interval: Interval, published: int) -> PageLimitError | None:
    """``None`` when every page was read; else the error the task raises *after* publishing what it fetched: the
    records beyond the limit were never fetched, and the run must not look green (nothing lost quietly)."""
    if not fetched.truncated:
        return None
    return PageLimitError(source.name, (
        f"stopped at max_pages={source.endpoint.max_pages} for {interval.tag} with more pages on offer — the "
        f"{len(fetched.pages)} pages fetched ({published} records) were landed and published, the pages beyond "
        f"were not fetched; raise endpoint.max_pages of {source.name!r} in config/sources.yaml (at most 1000) or "
        "narrow the request, then rerun this interval (the rerun replaces its raw pages and republishes the same "
        "record ids)"))


def page_interval(source: Source, page: Any, interval: Interval) -> Interval:
    """The data interval of a page's records: the run's, or the day at ``interval_date_path``."""
    path = source.endpoint.interval_date_path
    if not path:
        return interval
    value = dig(page, path)
    try:
        day = datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    except ValueError:
        raise SourceError(source.name, f"interval_date_path {path!r} is {value!r}, not a date") from None
    return Interval(day, day + timedelta(days=1))


def _ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        secs = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(secs, UTC)
    d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def to_records(source: Source, pages: list[Any], interval: Interval, run_id: str | None,
               keep_payload: bool = True) -> list[dict[str, Any]]:
    """Map every record of every page; one ExternalData record per entity (the last one wins)."""
    f = source.fields
    out: dict[str, dict[str, Any]] = {}
    for page_index, page in enumerate(pages):
        page_iv = page_interval(source, page, interval)
        for i, item in enumerate(records_of(source, page)):
            where = f"page {page_index + 1} record {i + 1}"
            entity = dig(item, f.entity)
            if entity in (None, ""):
                raise SourceError(source.name, f"{where}: no entity at {f.entity!r} — check fields.entity")
            metrics: dict[str, float] = {}
            for name, path in f.metrics.items():
                value = dig(item, path)
                if value is None:
                    continue
                try:
                    metrics[name] = float(value)
                except (TypeError, ValueError):
                    raise SourceError(source.name, f"{where}: metric {name!r} at {path!r} is {value!r}, "
                                                   "not a number") from None
            attributes = {n: str(v) for n, p in f.attributes.items() if (v := dig(item, p)) is not None}
            attributes["kind"] = source.kind
            try:
                observed = _ts(dig(item, f.observed_ts)) if f.observed_ts else None
            except ValueError:
                raise SourceError(source.name, f"{where}: observed_ts at {f.observed_ts!r} is not a time") from None
            out[str(entity)] = make_record(
                source.name, str(entity), page_iv, observed=observed, metrics=metrics, attributes=attributes,
                payload=item if (keep_payload and source.keep_payload) else None, run_id=run_id,
            )
    return list(out.values())
