"""Errors a client can hit, as one JSON shape (``models.Problem``), with messages that name the problem."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.responses import Response

from lambdas.gateway.models import SERVER_FIELDS

JSON = "application/json"


class HTTPProblem(Exception):
    """Raised anywhere in a request; the app turns it into a ``Problem`` response."""

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        problems: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.problems = problems
        self.headers = headers or {}
        self.extra = extra

    def response(self, request_id: str) -> Response:
        body: dict[str, Any] = {"error": self.error, "message": self.message, "request_id": request_id}
        if self.problems:
            body["problems"] = self.problems
        body.update(self.extra)
        return json_response(body, self.status, self.headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=JSON)


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


def invalid_json(exc: ValidationError | Exception) -> HTTPProblem:
    detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
    return HTTPProblem(400, "malformed_json", f"the body is not valid JSON: {detail}")


def is_json_error(exc: ValidationError) -> bool:
    errors = exc.errors(include_url=False, include_input=False)
    return len(errors) == 1 and errors[0]["type"] == "json_invalid"
