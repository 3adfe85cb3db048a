"""The jobs' pure transforms on ``createDataFrame`` data (one local SparkSession, no Kafka): event-time
clamping, de-duplication, the windows/funnel/clickstream aggregations against plain-Python answers, and
the late-row rule on a real stream (a folder source). The Kafka wiring: tests/integration/test_spark_jobs.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from emr_jobs import app_events, clickstream
from emr_jobs.event_time import clamp
from eventbus.catalog import EventTime, load_catalog
from tests.support import spark_data as data


def _event_time(topic: str) -> EventTime:
    et = load_catalog().get(topic).event_time
    assert et is not None, f"{topic} declares no event_time in schemas/topics.yaml"
    return et


APP_ET = _event_time("topic_app_events")
CLICK_ET = _event_time("topic_clickstream")

APP_SCHEMA = ("event_id string, event_type string, event_ts timestamp, received_ts timestamp, user_id string, "
              "session_id string, platform string, destination string, kafka_ts timestamp")
CLICK_SCHEMA = ("click_id string, event_ts timestamp, page_url string, element_id string, x int, y int, "
                "viewport_width int, viewport_height int, device_type string, kafka_ts timestamp")


def _app_df(spark: SparkSession, events: list[dict[str, Any]]) -> Any:
    names = [c.split(" ")[0] for c in APP_SCHEMA.split(", ")]
    rows = [tuple(e.get(n) if n != "kafka_ts" else e["received_ts"] for n in names) for e in events]
    return spark.createDataFrame(rows, APP_SCHEMA)


def _collect(counts: Any) -> dict[str, Any]:
    out = {}
    for r in counts.collect():
        key = f"{r.job}|{r.window.start.strftime('%Y-%m-%dT%H:%MZ')}|{r.entity_type}={r.entity_id}"
        out[key] = (r.event_count, dict(r.metrics))
    return out


def test_clamp_takes_the_trusted_time_plus_skew_and_leaves_late_events_alone(spark: SparkSession) -> None:
    now = datetime(2026, 1, 1, 12, 0)
    ahead = now + timedelta(days=3)
    late = now - timedelta(minutes=20)
    df = spark.createDataFrame([("a", ahead, now), ("b", late, now), ("c", now + timedelta(seconds=299), now)],
                               "event_id string, event_ts timestamp, received_ts timestamp")
    got = {r.event_id: (r.ts, r.clamped) for r in clamp(df, APP_ET).collect()}
    assert got == {"a": (now + timedelta(seconds=300), True), "b": (late, False),
                   "c": (now + timedelta(seconds=299), False)}
    by_kafka = spark.createDataFrame([("a", ahead, now)], "click_id string, event_ts timestamp, kafka_ts timestamp")
    assert CLICK_ET.trusted == "kafka_timestamp"
    assert [r.ts for r in clamp(by_kafka, CLICK_ET).collect()] == [now + timedelta(seconds=CLICK_ET.max_future_skew_s)]
    assert [r.ts for r in clamp(by_kafka, EventTime("event_ts", "kafka_timestamp", 0)).collect()] == [now]


def test_app_event_windows_and_funnel_count_each_event_once(spark: SparkSession) -> None:
    events = [dict(e, event_ts=e["event_ts"].replace(tzinfo=None), received_ts=e["received_ts"].replace(tzinfo=None))
              for e in data.app_events(300)]
    resent = events + events[::7]  # ~14% of the events delivered twice
    ev = clamp(_app_df(spark, resent), APP_ET)
    got = _collect(app_events.window_counts(app_events.window_rows(ev, 5)))
    windows = {k: v[0] for k, v in got.items() if k.startswith("app_events|")}
    assert windows == data.expected_app_windows(events)
    funnel = {k: v[1] for k, v in got.items() if k.startswith("app_events_funnel|")}
    expected = data.expected_funnel(events)
    assert funnel.keys() == expected.keys()
    for key, metrics in expected.items():
        assert funnel[key] == pytest.approx(metrics), key
        assert got[key][0] == metrics["sessions_search"]


def test_clickstream_windows_and_heatmap_count_each_click_once(spark: SparkSession) -> None:
    clicks = [dict(c, event_ts=c["event_ts"].replace(tzinfo=None)) for c in data.clicks(200)]
    names = [c.split(" ")[0] for c in CLICK_SCHEMA.split(", ")]
    rows = [tuple(c.get(n) if n != "kafka_ts" else c["event_ts"] for n in names) for c in clicks + clicks[::5]]
    ev = clamp(spark.createDataFrame(rows, CLICK_SCHEMA), CLICK_ET)
    got = _collect(clickstream.window_counts(clickstream.window_rows(ev, 10, 5, 10)))
    assert {k: v[0] for k, v in got.items()} == data.expected_clicks(clicks)
    heat = next(v for k, v in got.items() if k.startswith("clickstream_heatmap|"))
    assert set(heat[1]) == {"gx", "gy"}


def test_a_row_is_dropped_when_its_window_ends_at_or_before_the_watermark(spark: SparkSession,
                                                                          tmp_path: Path) -> None:
    """Two micro-batches on a real stream: the watermark after the first is max ts - 10 min = 10:10."""
    src = tmp_path / "in"
    src.mkdir()
    t = datetime(2026, 1, 1, 10, 0)

    def put(name: str, evs: list[tuple[str, datetime]]) -> None:
        with (src / f"{name}.json").open("w") as fh:
            for eid, ts in evs:
                stamp = ts.isoformat() + "Z"
                fh.write(json.dumps({"event_id": eid, "event_type": "search", "event_ts": stamp, "received_ts": stamp,
                                     "kafka_ts": stamp, "user_id": "u", "session_id": "s", "platform": "web",
                                     "destination": None}) + "\n")

    put("a", [("a1", t), ("a2", t + timedelta(minutes=20))])
    stream = spark.readStream.schema(APP_SCHEMA).option("maxFilesPerTrigger", 1).json(str(src))
    ev = clamp(stream, APP_ET).withWatermark("ts", "10 minutes")
    counts = app_events.window_counts(app_events.window_rows(ev, 5)).where("entity_type = 'platform'")
    out: dict[str, int] = {}

    def run() -> list[dict[str, Any]]:
        q = (counts.writeStream.outputMode("update").option("checkpointLocation", str(tmp_path / "ck"))
             .foreachBatch(lambda b, _i: out.update({r.window.end.strftime("%H:%M"): r.event_count
                                                      for r in b.collect()}))
             .trigger(availableNow=True).start())
        q.awaitTermination(120)
        assert q.exception() is None
        return [p if isinstance(p, dict) else json.loads(p.json) for p in q.recentProgress]

    run()
    # 10:08 (window ends 10:10 <= 10:10: late), 10:12 (ends 10:15: counted although 10:12 is not after
    # 10:10 + nothing), a2 again (duplicate), 10:14 twice with one event_id
    put("b", [("b1", t + timedelta(minutes=8)), ("b2", t + timedelta(minutes=12)), ("a2", t + timedelta(minutes=20)),
              ("b3", t + timedelta(minutes=14)), ("b3", t + timedelta(minutes=14))])
    progress = [p for p in run() if p["numInputRows"]]
    assert out == {"10:05": 1, "10:25": 1, "10:15": 2}
    assert progress[-1]["eventTime"]["watermark"] == "2026-01-01T10:10:00.000Z"
    dedupe = next(op for op in progress[-1]["stateOperators"] if op["operatorName"] == "dedupe")
    assert dedupe["numRowsDroppedByWatermark"] == 1
    assert dedupe["customMetrics"]["numDroppedDuplicateRows"] == 2


def test_projection_keeps_only_the_fields_a_query_reads() -> None:
    from emr_jobs.wire import project, unknown_versions

    text = load_catalog().get("topic_app_events").schema_text
    projected = json.loads(project(text, ("event_id", "event_ts")))
    assert [f["name"] for f in projected["fields"]] == ["event_id", "event_ts"]
    assert project(text, None) == text
    with pytest.raises(ValueError, match="no field"):
        project(text, ("nope",))
    msg = "Job aborted: [USER_RAISED_EXCEPTION] eb-unknown-schema-version:topic_app_events:" + "AB" * 16 + " ..."
    assert unknown_versions(msg) == {("topic_app_events", "AB" * 16)}


def test_the_lake_archives_the_first_copy_of_each_key_within_the_watermark(spark: SparkSession,
                                                                           tmp_path: Path) -> None:
    """``lake.first_copies`` on a real stream (a folder source), two micro-batches: copies of a key in the
    same batch and in a later one within the delay are dropped; the same key on another topic is not."""
    from pyspark.sql import functions as F

    from emr_jobs.lake import first_copies

    src = tmp_path / "in"
    src.mkdir()

    def put(name: str, rows: list[tuple[str, str, int]]) -> None:
        (src / f"{name}.json").write_text("".join(json.dumps({"topic": t, "rid": r, "offset": o}) + "\n"
                                                  for t, r, o in rows))

    put("a", [("ext", "r1", 0), ("ext", "r1", 1), ("ext", "r2", 2), ("clicks", "r1", 0)])
    stream = spark.readStream.schema("topic string, rid string, offset long").option("maxFilesPerTrigger", 1)
    kept = first_copies(stream.json(str(src)), F.col("rid"), "10 minutes")
    out: list[tuple[str, str, int]] = []

    def run() -> list[dict[str, Any]]:
        q = (kept.writeStream.option("checkpointLocation", str(tmp_path / "ck")).outputMode("append")
             .foreachBatch(lambda b, _i: out.extend((r.topic, r.rid, r.offset) for r in b.collect()))
             .trigger(availableNow=True).start())
        q.awaitTermination(120)
        assert q.exception() is None
        return [p if isinstance(p, dict) else json.loads(p.json) for p in q.recentProgress]

    first = run()  # which copy of a key within one batch is kept is Spark's choice: compare the keys
    assert sorted((t, r) for t, r, _ in out) == [("clicks", "r1"), ("ext", "r1"), ("ext", "r2")]
    put("b", [("ext", "r1", 3), ("ext", "r3", 4), ("ext", "r3", 5)])  # a rerun's copy, a new key twice
    second = run()
    assert sorted((t, r) for t, r, _ in out) == [("clicks", "r1"), ("ext", "r1"), ("ext", "r2"), ("ext", "r3")]
    assert 3 not in {o for _, _, o in out}  # the rerun's copy of r1 is not archived
    dropped = sum(int(op["customMetrics"]["numDroppedDuplicateRows"]) for p in first + second
                  for op in p["stateOperators"] if op["operatorName"] == "dedupeWithinWatermark")
    assert dropped == 3  # r1 in batch a, r1 and r3 in batch b: counted (the console shows it)
    assert not [p for p in first + second if any(op["numRowsDroppedByWatermark"] for op in p["stateOperators"])]
