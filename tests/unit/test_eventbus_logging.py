"""eventbus.logging's handler follows ``sys.stderr``: a runner that swaps and closes it (pytest's capture does)
must not turn a library's last log line at exit into a "--- Logging error ---" traceback (seen at the end of
`make test`: py4j's "Closing down clientserver connection")."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from eventbus.logging import configure_logging
from eventbus.settings import Settings


@pytest.fixture()
def root_handlers() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for h in [h for h in root.handlers if getattr(h, "_eventbus", False)]:
        root.removeHandler(h)
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_records_go_to_the_stderr_of_the_moment_and_a_closed_one_is_never_written(
        root_handlers: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging(Settings(log_level="INFO", log_json=True))
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("t.one").info("to the first")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    errors: list[BaseException | None] = []
    monkeypatch.setattr(logging.Handler, "handleError", lambda self, record: errors.append(sys.exc_info()[1]))
    logging.getLogger("py4j.clientserver").info("Closing down clientserver connection")
    assert errors == []
    assert '"msg": "Closing down clientserver connection"' in second.getvalue()
    assert "to the first" not in second.getvalue()
