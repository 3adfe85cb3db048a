"""Start the streaming queries in one driver: checks first (broker, topics, checkpoint location), then
every selected job, then wait. Errors come out as one line (``emr_jobs.errors.one_line``).

    python -m emr_jobs run                       # every job, until stopped (make spark)
    python -m emr_jobs run --jobs app_events --once   # process the backlog, then exit
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emr_jobs.config import SparkSettings, get_spark_settings
from emr_jobs.errors import JobError
from emr_jobs.jobs import registry
from emr_jobs.streams import JobContext
from emr_jobs.supervisor import Supervisor
from eventbus.exceptions import ConfigurationError, local_hint
from eventbus.logging import get_logger
from eventbus.settings import Settings, get_settings

log = get_logger("emr_jobs")
#: What py4j logs (root logger, with a traceback) when the JVM does not answer a call.
PY4J_LOST_CALL = "Exception while sending command."


def check_topics(settings: Settings, cfg: SparkSettings, logical: list[str]) -> None:
    """Broker reachable and every topic the jobs read or write present — else one line saying what to do."""
    from confluent_kafka import KafkaException

    from eventbus.kafka.admin import make_admin

    admin = make_admin(settings, client_id="emr-jobs-check")
    try:
        present = set(admin.list_topics(timeout=5).topics)
    except KafkaException as exc:
        raise JobError(f"Kafka broker at {settings.kafka_bootstrap} unreachable{local_hint(settings.kafka_bootstrap)}"
                       f" (or set EB_KAFKA_BOOTSTRAP): {exc.args[0].str() if exc.args else exc}") from None
    missing = [cfg.topic(t) for t in logical if cfg.topic(t) not in present]
    if missing:
        raise JobError(f"topic(s) {', '.join(missing)} do not exist on {settings.kafka_bootstrap} — "
                       "run `make local-up` (applies schemas/topics.yaml) or create them")


def check_location(settings: Settings, root: str, what: str) -> None:
    """A checkpoint/lake root that can be written: a local folder, or an existing S3 bucket."""
    if not root:
        raise JobError(f"no {what} location — set EB_SPARK_{what.upper()}_ROOT (a folder, or s3://bucket/prefix)")
    if root.startswith(("s3://", "s3a://")):
        from botocore.exceptions import BotoCoreError, ClientError

        from eventbus import aws

        bucket = root.split("://", 1)[1].split("/", 1)[0]
        try:
            aws.client("s3", settings).head_bucket(Bucket=bucket)
        except (ClientError, BotoCoreError) as exc:
            raise JobError(f"{what} bucket {bucket} is not usable ({exc}) — create it or fix "
                           f"EB_SPARK_{what.upper()}_ROOT") from None
        return
    path = Path(root.removeprefix("file://"))
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise JobError(f"{what} location {path} is not writable ({exc.strerror}) — "
                       f"set EB_SPARK_{what.upper()}_ROOT to a writable folder") from None


def not_py4j(record: logging.LogRecord) -> bool:
    return not record.name.startswith("py4j") and record.getMessage() != PY4J_LOST_CALL


def quiet_py4j() -> None:
    """From a stop signal on: the JVM goes away with it (the same process group), and py4j would log a
    traceback for every call it can no longer finish (on its own loggers, and on the root logger), which
    makes a clean stop read like a crash."""
    root = logging.getLogger()
    for where in (root, *root.handlers):
        where.addFilter(not_py4j)


def run(jobs: list[str], once: bool = False, settings: Settings | None = None,
        cfg: SparkSettings | None = None) -> int:
    """Check, build the session, start ``jobs``, wait until they end (``once``) or a signal stops them."""
    from emr_jobs.session import build_session, register_progress_listener

    settings = settings or get_settings()
    cfg = cfg or get_spark_settings()
    try:
        selected = registry(settings).select(jobs)
    except ConfigurationError as exc:
        raise JobError(str(exc)) from None
    check_topics(settings, cfg, sorted({t for j in selected for t in (*j.reads, *j.writes)}))
    check_location(settings, cfg.checkpoints(), "checkpoint")
    if "lake" in jobs:
        check_location(settings, cfg.lake(), "lake")
    spark = build_session(f"travel-streaming[{','.join(jobs)}]", cfg)
    register_progress_listener(spark, cfg.progress())
    ctx = JobContext.create(spark, settings, cfg, once=once)
    stopping = {"flag": False}

    def stop(signum: int, _frame: Any) -> None:
        stopping["flag"] = True
        quiet_py4j()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sup = Supervisor(ctx, jobs)
    try:
        queries = sup.start()
        log.info(f"started {len(queries)} queries: {', '.join(q.name for q in queries)}; "
                 f"checkpoints in {cfg.checkpoints()}, progress in {cfg.progress()}")
        while not stopping["flag"]:
            if not (sup.poll() or sup.poll()):  # second look: a failure as a query ended restarts it
                break
            time.sleep(1.0)
    except JobError:
        raise
    except Exception:
        if not stopping["flag"]:
            raise
        # a signal also reached the JVM (process group), while the queries started or ran: it is going away
        log.info("stopped by a signal")
    finally:
        sup.stop()
        with contextlib.suppress(Exception):
            spark.stop()
    return 0


def guarded(fn: Callable[[], int]) -> int:
    """Run ``fn``; any failure becomes one line on stderr and exit status 1 (no Java stack trace)."""
    from emr_jobs.errors import one_line

    try:
        return fn()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
