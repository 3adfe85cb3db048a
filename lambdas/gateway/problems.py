"""Errors a client can hit, as one JSON shape (``models.Problem``): every error response — 4xx, 503 and
the 500 of an unexpected error — is an ``HTTPProblem`` turned into a response here.

    >>> HTTPProblem(413, "body_too_large", "the body is larger than 65536 bytes").response("req-1")
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.responses import Response

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


def internal_error() -> HTTPProblem:
    """The answer to an unexpected error (logged by the caller): no stack trace, the request id."""
    return HTTPProblem(500, "internal", "unexpected error; it was logged")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=JSON)


def invalid_json(exc: ValidationError | Exception) -> HTTPProblem:
    detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
    return HTTPProblem(400, "malformed_json", f"the body is not valid JSON: {detail}")
