"""The Supervisor's decisions without Spark: a query failing on a schema version registered after it was
built is restarted (after a registry refresh), any other failure is one JobError, restarts are bounded."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from emr_jobs import supervisor as sup_mod
from emr_jobs.errors import JobError
from emr_jobs.supervisor import Supervisor

VID = "AB" * 16


class Query:
    def __init__(self, name: str, error: str | None = None, active: bool = True) -> None:
        self.name, self.error, self.isActive, self.stopped = name, error, active and error is None, False
        self.recentProgress: list[dict[str, Any]] = []

    def exception(self) -> Any:
        return SimpleNamespace(desc=self.error) if self.error else None

    def stop(self) -> None:
        self.stopped, self.isActive = True, False


class Codec:
    def __init__(self) -> None:
        self.versions: dict[str, set[str]] = {"topic_app_events": set()}
        self.refreshed: list[tuple[str, set[str]]] = []

    def refresh(self, topic: str, seen: set[str]) -> set[str]:
        self.refreshed.append((topic, seen))
        self.versions[topic] |= seen
        return seen


def _supervisor(first_error: str | None) -> tuple[Supervisor, list[Query]]:
    started: list[Query] = []

    def start(_ctx: Any) -> list[Query]:
        q = Query("app_events", first_error if not started else None)
        started.append(q)
        return [q]

    sup = Supervisor(SimpleNamespace(codec=Codec()), ["app_events"], starters={"app_events": start})  # type: ignore[arg-type]
    sup.start()
    return sup, started


def test_a_new_schema_version_restarts_the_job_after_a_refresh() -> None:
    sup, started = _supervisor(f"Job aborted: [USER_RAISED_EXCEPTION] eb-unknown-schema-version:topic_app_events:{VID}")
    assert sup.poll() is True
    assert len(started) == 2 and started[0].stopped and started[1].isActive
    assert sup.ctx.codec.refreshed == [("topic_app_events", {VID})]  # type: ignore[attr-defined]  # the Codec above
    assert [len(v) for v in sup.restarts.values()] == [1]


def test_any_other_failure_is_one_job_error() -> None:
    sup, _ = _supervisor("org.apache.kafka.common.errors.TimeoutException: boom")
    with pytest.raises(JobError, match="query app_events failed: .*TimeoutException"):
        sup.poll()


def test_restarts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sup_mod, "MAX_RESTARTS_PER_HOUR", 1)
    sup, started = _supervisor(f"eb-unknown-schema-version:topic_app_events:{VID}")
    sup.poll()
    started[-1].error, started[-1].isActive = f"eb-unknown-schema-version:topic_app_events:{VID}", False
    with pytest.raises(JobError, match="restarted 1 times within an hour"):
        sup.poll()
