"""The console's pure parts: filters, cursors, JSON conversion, Spark progress files, settings."""

from __future__ import annotations

import datetime
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from eventbus.catalog import load_catalog
from eventbus.settings import Settings
from local.console import spark
from local.console.config import ConsoleSettings
from local.console.exceptions import BadInputError
from local.console.filters import format_cursor, parse_cursor, parse_filter
from local.console.follow import _belongs, check
from local.console.reading import json_safe

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cdc_spec():
    return load_catalog(Settings()).get("topic_cdc_changes")


def test_key_filter_is_exact_or_a_regex(cdc_spec) -> None:
    exact = parse_filter(cdc_spec, key="public.bookings:bk-1")
    assert exact.key_matches("public.bookings:bk-1") and not exact.key_matches("public.bookings:bk-10")
    rx = parse_filter(cdc_spec, key="/^public\\.bookings:/")
    assert rx.key_matches("public.bookings:bk-10") and not rx.key_matches("public.users:u-1")
    assert not rx.key_matches(None)


@pytest.mark.parametrize("bad", ["", "/(/", "a\x00b", "x" * 300])
def test_malformed_key_filters_are_refused(cdc_spec, bad: str) -> None:
    with pytest.raises(BadInputError, match="malformed key filter"):
        parse_filter(cdc_spec, key=bad)


def test_field_filter_walks_nested_values(cdc_spec) -> None:
    flt = parse_filter(cdc_spec, where="after.status=confirmed")
    assert flt.value_matches({"after": {"status": "confirmed"}})
    assert not flt.value_matches({"after": {"status": "pending"}})
    assert not flt.value_matches({"after": None})
    assert flt.raw_hint() == b"confirmed"
    assert parse_filter(cdc_spec, where="ts_ms=5").raw_hint() is None  # numbers are not raw text in Avro
    assert parse_filter(cdc_spec, where="source.snapshot=false").value_matches({"source": {"snapshot": "false"}})
    assert parse_filter(cdc_spec, where="source.table=bookings").raw_hint() == b"bookings"


def test_enum_fields_are_not_prefiltered_on_raw_bytes() -> None:
    spec = load_catalog(Settings()).get("topic_app_events")
    # Avro writes an enum as its index, so "booking_created" is not in the raw bytes: decode and compare.
    assert parse_filter(spec, where="event_type=booking_created").raw_hint() is None
    assert parse_filter(spec, where="user_id=u-1").raw_hint() == b"u-1"
    assert parse_filter(spec, where="properties.query=beach").raw_hint() == b"beach"


@pytest.mark.parametrize(("where", "says"), [("op", "expected FIELD=VALUE"), ("=x", "expected FIELD=VALUE"),
                                             ("colour=red", "unknown field 'colour'")])
def test_malformed_field_filters_name_the_problem(cdc_spec, where: str, says: str) -> None:
    with pytest.raises(BadInputError, match=says):
        parse_filter(cdc_spec, where=where)


def test_cursor_round_trip_and_errors() -> None:
    assert parse_cursor(format_cursor({1: 98, 0: 120})) == {0: 120, 1: 98}
    assert parse_cursor(None) is None
    for bad in ("x", "0:1,2", "0:-1"):
        with pytest.raises(BadInputError, match="malformed cursor"):
            parse_cursor(bad)


def test_json_safe_converts_what_avro_decodes() -> None:
    ts = datetime.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=datetime.UTC)
    out = json_safe({"b": b"text", "raw": b"\xff\x00", "ts": ts, "d": datetime.date(2026, 1, 2), "n": [1, None]})
    assert out == {"b": "text", "raw": {"base64": "/wA="}, "ts": "2026-01-02T03:04:05.006Z", "d": "2026-01-02",
                   "n": [1, None]}
    json.dumps(out)


def test_follow_checks_kind_and_id_and_matches_cdc_images() -> None:
    check("booking_id", "bk-05426add4c9e5a3a")
    with pytest.raises(BadInputError, match="choose one of"):
        check("hotel_id", "h-1")
    with pytest.raises(BadInputError, match="malformed user_id"):
        check("user_id", "a b")
    assert _belongs("booking_id", "bk-1", "public.bookings:bk-1", None)
    assert _belongs("booking_id", "bk-1", "public.payments:pay-1", {"after": {"booking_id": "bk-1"}})
    assert _belongs("booking_id", "bk-1", "public.payments:pay-1", {"after": None, "before": {"booking_id": "bk-1"}})
    assert not _belongs("booking_id", "bk-1", "public.bookings:bk-10", {"after": {"booking_id": "bk-10"}})


def test_spark_progress_files(tmp_path: Path) -> None:
    assert "no Spark queries running" in spark.queries(tmp_path / "missing")["message"]
    progress: dict[str, Any] = {"name": "app_events_windows", "batchId": 7, "timestamp": "2026-01-01T00:00:00.000Z",
                "inputRowsPerSecond": 12.5, "processedRowsPerSecond": 40.0, "numInputRows": 25,
                "durationMs": {"triggerExecution": 620}, "eventTime": {"watermark": "2026-01-01T00:00:00.000Z"},
                "sources": [{"description": "KafkaV2[Subscribe[topic_app_events]]",
                             "endOffset": {"topic_app_events": {"0": 10, "1": 5}},
                             "latestOffset": {"topic_app_events": {"0": 12, "1": 5}}}]}
    (tmp_path / "app_events_windows.json").write_text(json.dumps(progress))
    got = spark.queries(tmp_path)
    [q] = got["queries"]
    assert got["message"] is None
    assert (q["batch_id"], q["input_rows_per_s"], q["batch_duration_ms"], q["stale"]) == (7, 12.5, 620, False)
    assert q["sources"][0]["lag_records"] == 2
    progress["sources"][0]["latestOffset"] = None  # Spark leaves it out: the console's own end offsets
    (tmp_path / "app_events_windows.json").write_text(json.dumps(progress))
    ends = {"topic_app_events": {0: (0, 15), 1: (0, 5)}}
    assert spark.queries(tmp_path, ends)["queries"][0]["sources"][0]["lag_records"] == 5
    assert spark.queries(tmp_path)["queries"][0]["sources"][0]["lag_records"] is None
    old = time.time() - spark.STALE_S - 5
    os.utime(tmp_path / "app_events_windows.json", (old, old))
    assert spark.queries(tmp_path)["queries"][0]["stale"] is True
    assert "no Spark queries running" in spark.queries(tmp_path)["message"]


def test_console_settings_defaults_and_env_example() -> None:
    s = ConsoleSettings()
    assert (s.host, s.port) == ("127.0.0.1", 8088)
    text = (REPO / ".env.example").read_text()
    missing = [n for n in ConsoleSettings.model_fields if f"EB_CONSOLE_{n.upper()}=" not in text]
    assert missing == []
