"""The tf-apply emulator's answer to an SDK retry (infra/scripts/emulator.py ``answered_once``): a call that already
succeeded is not run twice (a security-group rule run twice is refused as InvalidPermission.Duplicate, which
failed `make test` in CI), while a retried error runs again, as in AWS."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.infra import infra_script


class Rules:
    """A WSGI backend that creates a rule per call and refuses one it already has, as EC2 does."""

    def __init__(self, first_status: str = "200 OK") -> None:
        self.runs = 0
        self.rules: set[str] = set()
        self.first_status = first_status

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.runs += 1
        if self.runs == 1 and not self.first_status.startswith("2"):
            start_response(self.first_status, [("Content-Type", "text/xml")])
            return [b"<Error><Code>InternalError</Code></Error>"]
        rule = environ["QUERY_STRING"]
        if rule in self.rules:
            start_response("400 Bad Request", [("Content-Type", "text/xml")])
            return [b"<Error><Code>InvalidPermission.Duplicate</Code></Error>"]
        self.rules.add(rule)
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [f"<Ok>{rule}</Ok>".encode()]


def call(app: Any, rule: str, invocation: str | None, attempt: int) -> tuple[str, bytes]:
    environ: dict[str, Any] = {"QUERY_STRING": rule}
    if invocation:
        environ["HTTP_AMZ_SDK_INVOCATION_ID"] = invocation
        environ["HTTP_AMZ_SDK_REQUEST"] = f"attempt={attempt}; max=25"
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: seen.append(status)))
    return seen[0], body


def test_a_retry_of_a_call_that_succeeded_gets_the_success_and_is_not_run_again() -> None:
    emulator, backend = infra_script("emulator"), Rules()
    lines: list[str] = []
    app = emulator.answered_once(backend, lines.append)
    assert call(app, "tcp-9098-msk", "inv-1", 1) == ("200 OK", b"<Ok>tcp-9098-msk</Ok>")
    assert call(app, "tcp-9098-msk", "inv-1", 2) == ("200 OK", b"<Ok>tcp-9098-msk</Ok>")
    assert backend.runs == 1
    assert len(lines) == 1 and "attempt=2 of invocation inv-1" in lines[0]
    # a new call (a new invocation id) of the same create is a second create, refused as in AWS
    assert call(app, "tcp-9098-msk", "inv-2", 1)[0].startswith("400")
    assert backend.runs == 2


def test_a_retried_error_runs_again_and_calls_without_an_invocation_id_are_never_replayed() -> None:
    emulator = infra_script("emulator")
    lines: list[str] = []
    backend = Rules(first_status="500 Internal Server Error")
    app = emulator.answered_once(backend, lines.append)
    assert call(app, "tcp-443-endpoints", "inv-1", 1)[0].startswith("500")
    assert call(app, "tcp-443-endpoints", "inv-1", 2) == ("200 OK", b"<Ok>tcp-443-endpoints</Ok>")
    assert backend.runs == 2 and "no success kept" in lines[0]
    plain = Rules()
    app = emulator.answered_once(plain, lines.append)
    call(app, "tcp-5432-aurora", None, 1)
    assert call(app, "tcp-5432-aurora", None, 2)[0].startswith("400")
    assert plain.runs == 2


def test_only_the_newest_successes_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator, backend = infra_script("emulator"), Rules()
    monkeypatch.setattr(emulator, "KEPT_BYTES", 40)  # room for two of these 15-byte answers, not three
    app = emulator.answered_once(backend, lambda line: None)
    for i in range(3):
        call(app, f"rule-{i}", f"inv-{i}", 1)
    assert call(app, "rule-2", "inv-2", 2)[0] == "200 OK" and backend.runs == 3  # kept: not run again
    assert call(app, "rule-0", "inv-0", 2)[0].startswith("400") and backend.runs == 4  # evicted: runs again
