"""Request bodies -> validated events, and pydantic's errors -> problems a client can act on.

The HTTP-free part of a request lives in ``ingest.py``; this module is where bytes become models (or
the 4xx that says what is wrong)::

    >>> events = validate_all_json(b'{"events": [...]}')      # every event valid, one pydantic pass
    >>> validate_items([{...}, {"user_id": 1}])               # per event: a model or a rejection
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import from_json

from lambdas.gateway.models import SERVER_FIELDS, AppEventIn, Validated
from lambdas.gateway.problems import HTTPProblem, invalid_json


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def field_problems(exc: ValidationError, model: str = "AppEvent") -> list[dict[str, str]]:
    """Pydantic's errors as ``[{"field": "event_ts", "problem": "..."}]``, reworded where it helps."""
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err["loc"])
        field = _path(loc) or "(body)"
        kind, msg = err["type"], err["msg"]
        if kind == "extra_forbidden":
            last = loc[-1] if loc else ""
            msg = (
                "is set by the gateway; remove it from the request"
                if last in SERVER_FIELDS
                else f"is not a field of {model} (check the spelling; see /docs)"
            )
        elif kind == "missing":
            msg = "is required"
        elif kind == "model_type" or kind == "dict_type":
            msg = "must be a JSON object"
        elif kind == "string_pattern_mismatch" and loc and loc[-1] == "currency":
            msg = "must be an ISO 4217 code of three capital letters, e.g. VND"
        elif kind == "string_too_short":
            msg = "must not be empty"
        out.append({"field": field, "problem": msg})
    return out


def reason(problems: list[dict[str, str]]) -> str:
    """One line for a batch result: ``event_ts: ...; user_id: is required``."""
    return "; ".join(f"{p['field']}: {p['problem']}" for p in problems)


def is_json_error(exc: ValidationError) -> bool:
    errors = exc.errors(include_url=False, include_input=False)
    return len(errors) == 1 and errors[0]["type"] == "json_invalid"


def parse_event(body: bytes, model: type[AppEventIn]) -> AppEventIn:
    """One event; 400 when the body is not JSON, 422 naming every bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if is_json_error(exc):
            raise invalid_json(exc) from None
        title = model.model_config.get("title") or model.__name__
        problems = field_problems(exc, title)
        raise HTTPProblem(422, "invalid_event", f"not a valid {title}: {reason(problems)}", problems=problems) from None


_EVENTS = TypeAdapter(list[AppEventIn])


class _BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[AppEventIn]


_BATCH = TypeAdapter(_BatchBody)


def validate_all_json(body: bytes) -> list[AppEventIn] | None:
    """Every event of a ``{"events": [...]}`` body, parsed and validated in one pass of pydantic-core;
    ``None`` when anything is wrong (then ``validate_items`` finds out what, per event)."""
    try:
        return _BATCH.validate_json(body).events
    except ValidationError:
        return None


def validate_items(items: list[Any]) -> Validated:
    """Each item as a model, or ``{"index", "status": "rejected", "event_id", "reason"}``."""
    try:
        return list(_EVENTS.validate_python(items))  # every event valid
    except ValidationError:
        pass
    out: Validated = []
    for i, item in enumerate(items):
        try:
            out.append(AppEventIn.model_validate(item))
        except ValidationError as exc:
            eid = item.get("event_id") if isinstance(item, dict) else None
            out.append(
                {
                    "index": i,
                    "status": "rejected",
                    "event_id": eid if isinstance(eid, str) else None,
                    "reason": reason(field_problems(exc)),
                }
            )
    return out


def batch_events(body: bytes, max_events: int) -> list[Any]:
    """The ``events`` of a batch body, parsed by the same parser as a single event's body (pydantic-core), so
    a number beyond a double (``1e400``) or a 64-bit integer is one event's 422, not the batch's 400."""
    try:
        doc = from_json(body)
    except ValueError as exc:
        raise invalid_json(exc) from None
    shape = 'the body must be {"events": [ ... ]}'
    if not isinstance(doc, dict) or set(doc) != {"events"} or not isinstance(doc["events"], list):
        raise HTTPProblem(422, "invalid_batch", shape)
    events = doc["events"]
    if not events:
        raise HTTPProblem(422, "invalid_batch", "events is empty: send at least one event")
    if len(events) > max_events:
        raise HTTPProblem(
            413, "batch_too_large", f"the batch has {len(events)} events; the limit is {max_events} — split it"
        )
    return events
