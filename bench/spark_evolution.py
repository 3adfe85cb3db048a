"""`make drill-spark-evolution`: AppEvent v2 (one new optional field) registered while the jobs run, then
v1 and v2 records produced mixed. Every record must be counted, none dead-lettered, and v2's field must
reach the lake — without restarting the driver.

Scratch topics and a scratch registry name (the shared stack's registry is not touched); the app_events
and lake jobs run in this process under the Supervisor, which restarts a query from its checkpoint when
a batch meets a version registered after the query was built.

    python -m bench.spark_evolution --events 20000
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import write_results
from bench.spark_live import LiveDriver
from eventbus import aws
from eventbus.cli import exit_with
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from tests.support.spark_data import BASE, app_events, expected_app_windows
from tests.support.spark_kit import (
    ScratchTopics,
    evolved_app_event,
    latest_by_key,
    produce_raw,
    read_topic,
    version_encoder,
)

FIELD = "referral_code"


@contextlib.contextmanager
def scratch_registry(settings: Settings) -> Iterator[Settings]:
    scratch = settings.model_copy(update={"registry_name": f"t-spark-evolution-{uuid.uuid4().hex[:8]}"})
    try:
        yield scratch
    finally:
        with contextlib.suppress(Exception):
            aws.client("glue", scratch).delete_registry(RegistryId={"RegistryName": scratch.registry_name})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark_evolution", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per phase (default 20000)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="drill-spark-evolution-"))
    t0 = time.monotonic()
    n = args.events
    topics_used = ["topic_app_events", "topic_cdc_changes", "topic_clickstream", "topic_app_logs",
                   "topic_external_data", "topic_processed_events", "topic_dead_letter"]
    with scratch_registry(Settings()) as settings, \
            ScratchTopics(settings, topics_used, partitions=3, prefix="t_spark_evo") as topics, \
            LiveDriver(settings, topics, ["app_events", "lake"], root) as live:
        source = topics.actual("topic_app_events")
        serde = AvroSerde(settings)
        v1_events = app_events(n, seed=1, start=BASE, span_s=600, users=500)
        produce_raw(settings, source, [(e["user_id"].encode(), serde.encode("topic_app_events", e))
                                       for e in v1_events])
        live.wait_consumed("app_events", source)
        live.wait_consumed("lake", source)
        # v2 registered while the queries run; then v1 and v2 records interleaved
        encode_v2 = version_encoder(settings, "topic_app_events", evolved_app_event(FIELD))
        mixed = app_events(n, seed=2, start=BASE + timedelta(seconds=600), span_s=600, users=500)
        items = []
        for i, e in enumerate(mixed):
            value = encode_v2({**e, FIELD: f"r{i}"}) if i % 2 else serde.encode("topic_app_events", e)
            items.append((e["user_id"].encode(), value))
        produce_raw(settings, source, items)
        t_mixed = time.monotonic()
        live.wait_consumed("app_events", source)
        live.wait_consumed("lake", source)
        catch_up_s = time.monotonic() - t_mixed
        got = {k: v["event_count"] for k, v in latest_by_key(settings, topics.actual("topic_processed_events")).items()
               if v and v["job"] == "app_events"}
        dead = len(read_topic(settings, topics.actual("topic_dead_letter")))
        lake = live.spark.read.option("mergeSchema", "true").parquet(f"{live.cfg.lake()}/topic=topic_app_events")
        lake_rows = lake.count()
        with_field = lake.where(f"{FIELD} IS NOT NULL").count()
        restarts = {job: len(t) for job, t in live.sup.restarts.items()}
    want = expected_app_windows(v1_events + mixed)
    windows_ok = got == want
    n_v2 = n // 2
    ok = windows_ok and dead == 0 and with_field == n_v2 and lake_rows >= 2 * n
    rows: list[dict[str, Any]] = [
        {"what": "records: v1 before / mixed v1+v2 after registering v2", "value": f"{n} / {n - n_v2} + {n_v2}"},
        {"what": "window keys equal plain Python (every record counted)", "value": f"{windows_ok} ({len(want)} keys)"},
        {"what": "dead letters", "value": dead},
        {"what": f"lake rows / with {FIELD} set (= v2 records)", "value": f"{lake_rows} / {with_field}"},
        {"what": "query restarts from checkpoint (per job)", "value": str(restarts)},
        {"what": "seconds from producing the mixed records to both queries caught up", "value": round(catch_up_s, 1)},
        {"what": "wall seconds", "value": round(time.monotonic() - t0, 1)},
    ]
    write_results("spark_evolution", rows, {"ok": ok})
    if not ok:
        print("FAILED: see the table above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_with(main)
