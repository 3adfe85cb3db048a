"""The Spark jobs against the real local Kafka and a real SparkSession (local[2]), on scratch topics and
a scratch schema registry.

Hand-made events (tests/support/spark_data.py) go into ``t_spark_<run>_*`` topics; every job runs with
``trigger(availableNow=True)`` under the ``Supervisor`` and its output is compared with the same answer
computed in plain Python. One SparkSession for the module; the pure transforms are unit-tested
(tests/unit/test_spark_transforms.py).
"""

from __future__ import annotations

import contextlib
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark  # noqa: F401  # the spark extra (make test installs it): missing fails collection, never skips
import pytest

from emr_jobs.config import SparkSettings
from emr_jobs.jobs import output_topics, registry, source_topics
from emr_jobs.session import build_session, event_time_counts, read_progress, register_progress_listener
from emr_jobs.streams import JobContext
from emr_jobs.supervisor import Supervisor
from eventbus import aws
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from mwaa_dags.extdata.records import Interval, make_record
from tests.support import spark_data as data
from tests.support.spark_kit import (
    ScratchTopics,
    evolved_app_event,
    latest_by_key,
    produce,
    produce_raw,
    read_topic,
    version_encoder,
)

EVENTS = data.app_events(240)
CLICKS = data.clicks(150)
DB = data.oltp_workload()
#: Phase 2: two events long before the watermark (dropped), one on time, re-sent copies of events already
#: counted (same event_id: dropped as duplicates), and one dated 2099 by a producer that bypassed the
#: gateway (clamped to its received_ts + 300 s: it neither moves the watermark nor is lost).
LATE = [dict(e, event_id=f"late-{i}", event_ts=data.BASE - data.timedelta(minutes=20),
             received_ts=data.BASE, destination="Hanoi") for i, e in enumerate(EVENTS[:2])]
ON_TIME = [dict(EVENTS[-1], event_id="on-time", event_ts=EVENTS[-1]["event_ts"] + data.timedelta(seconds=1))]
RESENT = EVENTS[-6:-1]
FUTURE = dict(EVENTS[-1], event_id="from-2099", event_ts=data.datetime(2099, 1, 1, tzinfo=data.UTC))
FUTURE_EFFECTIVE = dict(FUTURE, event_ts=FUTURE["received_ts"] + data.timedelta(seconds=300))
#: One external-data interval as three runs of its DAG publish it (same record_id; each run its own
#: fetched_ts, run_id and values), beside another entity published once.
INTERVAL = Interval.parse("2026-01-01T00:00:00+00:00", "2026-01-01T06:00:00+00:00")
RUNS = [dict(make_record("weather", "dad", INTERVAL, metrics={"temp_c": 24.0 + i}, run_id=f"run-{i}"),
             fetched_ts=data.ms(data.BASE) + i) for i in range(3)]
OTHER = make_record("weather", "hue", INTERVAL, metrics={"temp_c": 21.0}, run_id="run-0")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings = Settings(registry_name=f"t-spark-{uuid.uuid4().hex[:8]}")  # evolution stays in the scratch registry
    root = tmp_path_factory.mktemp("spark")
    with ScratchTopics(settings, [*source_topics(settings), *output_topics(settings)], partitions=2) as topics:
        cfg = SparkSettings(topic_overrides=topics.overrides, checkpoint_root=str(root / "ckpt"),
                            lake_root=str(root / "lake"), progress_dir=root / "progress", ui_port=0,
                            max_offsets_per_trigger=0, shuffle_partitions=1)
        spark = build_session("test-spark-jobs", cfg)
        register_progress_listener(spark, cfg.progress())
        serde = AvroSerde(settings)
        produce(settings, topics.actual("topic_app_events"), "topic_app_events", EVENTS, "user_id", serde)
        produce(settings, topics.actual("topic_clickstream"), "topic_clickstream", CLICKS, "session_id", serde)
        produce(settings, topics.actual("topic_external_data"), "topic_external_data", [RUNS[0], OTHER], "entity",
                serde)
        cdc = topics.actual("topic_cdc_changes")
        produce_raw(settings, cdc, [(k.encode(), serde.encode("topic_cdc_changes", c)) for k, c in DB.changes])
        header = serde.header("topic_app_events")
        good = serde.encode("topic_app_events", EVENTS[0])
        produce_raw(settings, topics.actual("topic_app_events"), [
            (b"bad-1", b"hello, not avro"),
            (b"bad-2", header[:2] + uuid.uuid4().bytes + good[18:]),  # unknown schema version
            (b"bad-3", bytes([3, 5]) + header[2:] + zlib.compress(good[18:])),  # compressed body
        ])
        produce_raw(settings, topics.actual("topic_clickstream"), [(b"bad-4", serde.header("topic_clickstream"))])
        ctx = JobContext.create(spark, settings, cfg, once=True)
        run_once(ctx, list(registry(settings).names()))
        yield {"settings": settings, "topics": topics, "cfg": cfg, "ctx": ctx, "serde": serde, "spark": spark}
        spark.stop()
    with contextlib.suppress(Exception):
        aws.client("glue", settings).delete_registry(RegistryId={"RegistryName": settings.registry_name})


def run_once(ctx: JobContext, jobs: list[str]) -> Supervisor:
    """Run ``jobs`` with availableNow under the Supervisor until every query ended (``.history``: the
    progress of every run per query, ``.restarts``: restarts for new schema versions per job)."""
    sup = Supervisor(ctx, jobs)
    sup.start()
    try:
        sup.wait(300)
        return sup
    finally:
        sup.stop()


def processed(env: dict[str, Any], job: str) -> dict[str, dict[str, Any]]:
    rows = latest_by_key(env["settings"], env["topics"].actual("topic_processed_events"), env["serde"])
    return {k: v for k, v in rows.items() if v is not None and v["job"] == job}


def test_app_event_window_counts_equal_plain_python(env: dict[str, Any]) -> None:
    got = {k: v["event_count"] for k, v in processed(env, "app_events").items()}
    assert got == data.expected_app_windows(EVENTS)
    assert len(got) > 20


def test_funnel_per_window_equals_plain_python(env: dict[str, Any]) -> None:
    got = {k: v["metrics"] for k, v in processed(env, "app_events_funnel").items()}
    expected = data.expected_funnel(EVENTS)
    assert got.keys() == expected.keys()
    for key, metrics in expected.items():
        assert got[key] == pytest.approx(metrics), key


def test_clickstream_sliding_windows_and_heatmap_equal_plain_python(env: dict[str, Any]) -> None:
    jobs = ("clickstream", "clickstream_heatmap")
    got = {k: v["event_count"] for job in jobs for k, v in processed(env, job).items()}
    assert got == data.expected_clicks(CLICKS)


def _assert_state_equals(got: dict[str, Any], expected: dict[str, Any], approx: tuple[str, ...] = ()) -> None:
    """The state topic's last value per key equals the expected row (None = a tombstone); ``approx``
    fields (sums of floats) compare within pytest's tolerance."""
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        if want is None:
            assert got[key] is None, f"{key}: expected a tombstone"
            continue
        row = got[key]
        assert row is not None
        want = dict(want)
        for field in approx:
            assert row[field] == pytest.approx(want.pop(field)), key
        assert {k: row[k] for k in want} == want, key


def test_booking_state_equals_final_rows_and_deletes_are_tombstones(env: dict[str, Any]) -> None:
    got = latest_by_key(env["settings"], env["topics"].actual("topic_booking_state"), env["serde"])
    _assert_state_equals(got, data.expected_bookings(DB))
    assert got["b5"] is None


def test_user_state_equals_rows_and_events(env: dict[str, Any]) -> None:
    got = latest_by_key(env["settings"], env["topics"].actual("topic_user_state"), env["serde"])
    _assert_state_equals(got, data.expected_users(DB, EVENTS), approx=("total_spend",))


def test_bad_records_land_in_dead_letter_with_reason(env: dict[str, Any]) -> None:
    rows = [env["serde"].decode(v) for _, v in read_topic(env["settings"], env["topics"].actual("topic_dead_letter"))]
    by_key = {bytes(r["original_key"]).decode(): r for r in rows}
    assert set(by_key) == {"bad-1", "bad-2", "bad-3", "bad-4"}
    assert by_key["bad-1"]["error_type"] == "not_glue_wire"
    assert by_key["bad-2"]["error_type"] == "unknown_schema_version"
    assert "is not registered" in by_key["bad-2"]["error_message"]
    assert by_key["bad-3"]["error_type"] == "compressed"
    assert by_key["bad-4"]["error_type"] == "bad_avro"
    assert by_key["bad-1"]["original_value"] == b"hello, not avro"
    assert {r["original_topic"] for r in rows} == {"topic_app_events", "topic_clickstream"}
    assert all(r["component"] == "spark" for r in rows)


def test_lake_holds_every_decodable_record(env: dict[str, Any]) -> None:
    spark, lake = env["spark"], env["cfg"].lake()
    apps = spark.read.parquet(f"{lake}/topic=topic_app_events")
    assert apps.select("event_id").distinct().count() == len(EVENTS)
    assert spark.read.parquet(f"{lake}/topic=topic_cdc_changes").count() == len(DB.changes)
    assert {"date", "hour", "kafka_offset"} <= set(apps.columns)


def test_the_lake_archives_an_external_record_once_however_often_its_interval_is_rerun(
        env: dict[str, Any]) -> None:
    """The first run's record went through the first lake run; the two reruns' copies arrive later
    (within EB_SPARK_WATERMARK) and are dropped: one row per record_id, the first run's."""
    settings, topics = env["settings"], env["topics"]
    produce(settings, topics.actual("topic_external_data"), "topic_external_data", RUNS[1:], "entity", env["serde"])
    progress = run_once(env["ctx"], ["lake"]).history["lake"]
    lake = env["spark"].read.parquet(f"{env['cfg'].lake()}/topic=topic_external_data")
    rows = sorted((r.record_id, r.entity, r.run_id) for r in lake.collect())
    assert rows == sorted([(RUNS[0]["record_id"], "dad", "run-0"), (OTHER["record_id"], "hue", "run-0")])
    assert sum(event_time_counts(p)["duplicates_dropped"] for p in progress) == 2  # what the console shows


def test_progress_files_for_the_console(env: dict[str, Any]) -> None:
    directory = Path(env["cfg"].progress())
    for name in registry(env["settings"]).queries():
        progress = read_progress(directory, name)
        assert progress is not None, name
        assert progress["name"] == name


def test_every_query_runs_in_a_pool_the_allocation_file_declares(env: dict[str, Any]) -> None:
    """Spark warns "pool … has not been configured" for a pool its allocation file lacks; after every job
    ran, each pool in use (the queries' own and Spark's default) is one the file declares."""
    import xml.etree.ElementTree as ET
    from urllib.parse import urlparse

    sc = env["spark"].sparkContext
    declared = {p.get("name") for p in ET.parse(urlparse(sc.getConf().get("spark.scheduler.allocation.file")).path
                                                ).getroot().iter("pool")}
    assert declared == set(registry(env["settings"]).queries())
    pools = sc._jsc.sc().getAllPools()
    in_use = {pools.apply(i).name() for i in range(pools.size())}
    assert set(registry(env["settings"]).queries()) <= in_use  # each query's jobs ran in its own pool
    assert in_use - declared == {"default"}


def test_hostile_input_late_duplicate_and_future_dated(env: dict[str, Any]) -> None:
    settings, topics = env["settings"], env["topics"]
    before = processed(env, "app_events")
    produce(settings, topics.actual("topic_app_events"), "topic_app_events", LATE + ON_TIME + RESENT + [FUTURE],
            "user_id", env["serde"])
    progress = run_once(env["ctx"], ["app_events"]).history["app_events"]
    counts = [event_time_counts(p) for p in progress]
    # dropped per event at the de-duplication, before any aggregation: 2 late rows, 5 re-sent copies
    assert sum(c["late_dropped"] for c in counts) == len(LATE)
    assert sum(c["duplicates_dropped"] for c in counts) == len(RESENT)
    assert sum(c["clamped"] for c in counts) == 1
    assert max(p["eventTime"].get("watermark", "") for p in progress) < "2027"  # 2099 did not move it
    after = processed(env, "app_events")
    late_window = data.iso_minute(data.window_start(LATE[0]["event_ts"], 5))
    assert not [k for k in after if f"|{late_window}|" in k]
    assert after == {**before, **{k: v for k, v in after.items() if k not in before or v != before[k]}}
    got = {k: v["event_count"] for k, v in after.items()}
    assert got == data.expected_app_windows(EVENTS + ON_TIME + [FUTURE_EFFECTIVE])


def test_a_version_registered_while_running_is_decoded_without_loss(env: dict[str, Any]) -> None:
    """AppEvent v2 (one new optional field) registered after the codec was built: v1 and v2 records mixed
    are all counted, none is dead-lettered, and the new field reaches the lake."""
    settings, topics, ctx = env["settings"], env["topics"], env["ctx"]
    base = data.BASE + data.timedelta(hours=2)
    fresh = data.app_events(40, seed=99, start=base, span_s=120)
    v2 = version_encoder(settings, "topic_app_events", evolved_app_event("referral_code"))
    dead_before = len(read_topic(settings, topics.actual("topic_dead_letter")))
    items = []
    for i, e in enumerate(fresh):
        value = v2({**e, "referral_code": f"r{i}"}) if i % 2 else env["serde"].encode("topic_app_events", e)
        items.append((e["user_id"].encode(), value))
    produce_raw(settings, topics.actual("topic_app_events"), items)
    sup = run_once(ctx, ["app_events", "lake"])
    assert {job: len(t) for job, t in sup.restarts.items()} == {"app_events": 1, "lake": 1}  # from the checkpoint
    assert len(read_topic(settings, topics.actual("topic_dead_letter"))) == dead_before
    got = {k: v["event_count"] for k, v in processed(env, "app_events").items()}
    want = data.expected_app_windows(fresh)
    assert {k: got.get(k) for k in want} == want
    lake = env["spark"].read.option("mergeSchema", "true").parquet(f"{env['cfg'].lake()}/topic=topic_app_events")
    codes = {r.event_id: r.referral_code for r in lake.where("event_id LIKE 'e-99-%'").collect()}
    assert codes == {e["event_id"]: (f"r{i}" if i % 2 else None) for i, e in enumerate(fresh)}
