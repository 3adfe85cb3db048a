"""The console's errors. Each carries the HTTP status the API answers with (never 500)."""

from __future__ import annotations


class ConsoleError(Exception):
    """Base class: ``status`` is the API's answer, the message says what is wrong and what to do."""

    status = 400


class BadInputError(ConsoleError, ValueError):
    """A malformed parameter (filter, cursor, limit, id)."""


class NotFoundError(ConsoleError, LookupError):
    """An unknown topic or entity kind."""

    status = 404


class DependencyError(ConsoleError):
    """The broker, registry or database did not answer within the console's deadline.

    Answered 424 (Failed Dependency): the request was fine, a service it depends on is not; the page
    shows the message and the fix.
    """

    status = 424
