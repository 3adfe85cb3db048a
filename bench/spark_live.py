"""The Spark jobs running continuously in the drill's own process (bench/spark_hostile.py)."""

from __future__ import annotations

import json
from typing import Any

from eventbus.settings import Settings
from local.stack.health import wait_until
from tests.support.spark_kit import ScratchTopics


class LiveDriver:
    """The jobs running continuously in this process (processing-time triggers) under the Supervisor, on
    scratch topics — what the drills feed and watch.

        >>> with LiveDriver(settings, topics, ["app_events"], root) as live:
        ...     live.wait_consumed("app_events", topics.actual("topic_app_events"))
    """

    def __init__(self, settings: Settings, topics: ScratchTopics, jobs: list[str], root: Any,
                 trigger_seconds: float = 2.0, **cfg: Any) -> None:
        self.settings, self.topics, self.jobs, self.root = settings, topics, jobs, root
        self.trigger_seconds, self.extra = trigger_seconds, cfg

    def __enter__(self) -> LiveDriver:
        from emr_jobs.config import SparkSettings
        from emr_jobs.session import build_session, register_progress_listener
        from emr_jobs.streams import JobContext
        from emr_jobs.supervisor import Supervisor

        self.cfg = SparkSettings(topic_overrides=self.topics.overrides, checkpoint_root=str(self.root / "ckpt"),
                                 lake_root=str(self.root / "lake"), progress_dir=self.root / "progress", ui_port=0,
                                 trigger_seconds=self.trigger_seconds, **self.extra)
        import logging

        logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO line per callback drowns the drill's output
        self.spark = build_session("spark-drill", self.cfg)
        register_progress_listener(self.spark, self.cfg.progress())
        self.ctx = JobContext.create(self.spark, self.settings, self.cfg)
        self.sup = Supervisor(self.ctx, self.jobs)
        self.sup.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sup.stop()
        self.spark.stop()

    def query(self, name: str) -> Any:
        return next(q for q in self.sup.all_queries if q.name == name)

    def wait_consumed(self, query: str, topic: str, timeout: float = 300.0) -> dict[str, Any]:
        """Poll (restarting for new schema versions) until ``query`` committed a batch ending at ``topic``'s
        current end offsets; its last progress."""
        from eventbus.kafka.reader import end_offsets

        ends = {str(p): hi for p, hi in end_offsets(self.settings, topic).items()}

        def done() -> bool:
            self.sup.poll()
            p = self.query(query).lastProgress
            if not p:
                return False
            src = next((s for s in p["sources"] if topic in (s.get("endOffset") or {})), None)
            end = (src or {}).get("endOffset") or {}
            got = json.loads(end) if isinstance(end, str) else end
            return {k: int(v) for k, v in (got.get(topic) or {}).items()} == ends

        wait_until(done, timeout, f"{query} to consume {topic} to {ends}", interval=0.5)
        return dict(self.query(query).lastProgress)
