"""Declarative REST sources (the shape of dlt's ``rest_api`` config), read from ``config/sources.yaml``.

A source is one YAML entry: base URL, endpoint path and params, paginator, record path, field mapping.
``fetch_pages`` is the one fetch path for all of them; ``to_records`` maps records onto ExternalData.

    >>> cfg = load_sources(Path("mwaa_dags/config/sources.yaml"))
    >>> [s.name for s in cfg.sources]
    ['social_bluesky', 'market_fx', 'news_hackernews']

Values in ``path`` and ``params`` may use the run's interval: ``{start_ts}`` ``{end_ts}`` (epoch s),
``{start_iso}`` ``{end_iso}``, ``{start_date}`` ``{end_date}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from extdata.exceptions import ConfigError, SourceError
from extdata.http import Fetcher
from extdata.records import Interval, make_record
from extdata.settings import DagSettings

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
    max_pages: int = Field(default=20, ge=1, le=1000)


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
    key = ".".join(str(p) for p in loc if p not in ("single_page", "page_number", "cursor"))
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


def fetch_pages(source: Source, interval: Interval, fetcher: Fetcher, settings: DagSettings) -> list[Any]:
    """Every page of ``source`` for ``interval``; raises ``SourceError`` before returning anything partial."""
    ep = source.endpoint
    url = settings.url(source.base_url, _render(ep.path, interval, source.name))
    params = {k: _render(v, interval, source.name) for k, v in ep.params.items()}
    pag = ep.paginator
    pages: list[Any] = []
    page_no = pag.base_page if isinstance(pag, PageNumber) else 0
    while True:
        if len(pages) >= ep.max_pages:
            raise SourceError(source.name, f"more than max_pages={ep.max_pages} pages — raise it in the config "
                                           "or narrow the request")
        if isinstance(pag, PageNumber):
            params[pag.page_param] = page_no
        body = fetcher.get_json(source.name, url, params, ep.headers or None)
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
    return pages


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
                source.name, str(entity), interval, observed=observed, metrics=metrics, attributes=attributes,
                payload=item if (keep_payload and source.keep_payload) else None, run_id=run_id,
            )
    return list(out.values())
