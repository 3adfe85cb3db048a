"""Run the jobs' queries in one driver and keep them running through schema evolution.

A record whose schema version was registered after its query was built fails that query's micro-batch
(``wire.UNKNOWN_VERSION``) before anything of the batch is committed. The supervisor then re-reads the
topic's versions from the registry and restarts the job's queries from their checkpoints: the failed
batch runs again, with the new version decodable — no restart of the driver, no record lost. A version
id the registry does not know either is recorded as confirmed unknown, and the restarted query
dead-letters its records like any other undecodable record.

    >>> sup = Supervisor(ctx, ["app_events", "lake"])
    >>> sup.start()
    >>> while sup.poll(): time.sleep(1)      # False once every query ended (availableNow runs)
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

from emr_jobs.errors import JobError
from emr_jobs.jobs import Job
from emr_jobs.streams import JobContext
from emr_jobs.wire import unknown_versions
from eventbus.logging import get_logger

log = get_logger("emr_jobs")
#: Restarts for new schema versions allowed per job within an hour, before the failure is reported.
MAX_RESTARTS_PER_HOUR = 20


class Supervisor:
    def __init__(self, ctx: JobContext, jobs: list[str],
                 starters: dict[str, Callable[[JobContext], list[Any]]] | None = None) -> None:
        from emr_jobs.jobs import registry

        self.ctx = ctx
        if starters is None:  # each start function gets the context of its job (declared reads/writes)
            starters = {}
            for job in registry(ctx.settings).select(jobs):
                starters[job.name] = functools.partial(_start, job.starter(), job)
        self.starters = starters
        self.queries: dict[str, list[Any]] = {}
        self.restarts: dict[str, list[float]] = {}
        #: Every progress of every query run (restarted ones included), by query name.
        self.history: dict[str, list[dict[str, Any]]] = {}

    @property
    def all_queries(self) -> list[Any]:
        return [q for qs in self.queries.values() for q in qs]

    def start(self) -> list[Any]:
        for job, starter in self.starters.items():
            self.queries[job] = starter(self.ctx)
        return self.all_queries

    def _keep(self, q: Any) -> None:
        import json

        seen = self.history.setdefault(q.name, [])
        ids = {(p["runId"], p["batchId"]) for p in seen}
        for p in q.recentProgress:
            p = json.loads(p.json) if hasattr(p, "json") else p
            if (p["runId"], p["batchId"]) not in ids:
                seen.append(p)

    def poll(self) -> bool:
        """Check every query once: restart a job whose batch met a new schema version; raise JobError for
        any other failure. True while some query is still active."""
        for job, qs in list(self.queries.items()):
            failed = next((q for q in qs if q.exception() is not None), None)
            if failed is None:
                continue
            desc = str(failed.exception().desc)
            versions = unknown_versions(desc)
            if not versions:
                raise JobError(f"query {failed.name} failed: {desc}")
            self._restart(job, versions)
        return any(q.isActive for q in self.all_queries)

    def _restart(self, job: str, versions: set[tuple[str, str]]) -> None:
        now = time.monotonic()
        recent = [t for t in self.restarts.get(job, []) if now - t < 3600]
        if len(recent) >= MAX_RESTARTS_PER_HOUR:
            raise JobError(f"job {job} restarted {len(recent)} times within an hour for new schema versions — "
                           "check what produces to its topics")
        self.restarts[job] = [*recent, now]
        for q in self.queries[job]:
            self._keep(q)
            with contextlib.suppress(Exception):
                q.stop()
        for topic in sorted({t for t, _ in versions}):
            seen = {v for t, v in versions if t == topic}
            new = self.ctx.codec.refresh(topic, seen)
            unknown = seen - set(self.ctx.codec.versions[topic])
            log.info(f"{job}: schema version(s) {', '.join(sorted(seen))} of {topic} seen; "
                     f"registered now: {', '.join(sorted(new)) or 'none new'}; "
                     f"not registered (dead letters): {', '.join(sorted(unknown)) or 'none'} — restarting "
                     "from the checkpoint")
        self.queries[job] = self.starters[job](self.ctx)

    def wait(self, timeout: float, interval: float = 0.5) -> dict[str, list[dict[str, Any]]]:
        """Poll until every query ended (availableNow) or ``timeout``; the progress of every run."""
        deadline = time.monotonic() + timeout
        # a second look when all ended: a query that failed as it ended is restarted by poll()
        while self.poll() or self.poll():
            if time.monotonic() > deadline:
                raise JobError(f"queries still running after {timeout:.0f} s: "
                               + ", ".join(q.name for q in self.all_queries if q.isActive))
            time.sleep(interval)
        for q in self.all_queries:
            self._keep(q)
        return self.history

    def stop(self) -> None:
        for q in self.all_queries:
            with contextlib.suppress(Exception):  # stopping: a query that already failed was reported
                q.stop()


def _start(fn: Callable[[JobContext], list[Any]], job: Job, ctx: JobContext) -> list[Any]:
    return fn(ctx.for_job(job))
