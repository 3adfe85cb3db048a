"""The stack's own Spark program (``spark`` in local/stack/programs.py) on the live topics: within 3 minutes of its
start all three output topics have records, and booking states match their PostgreSQL rows."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest

from eventbus.kafka.reader import end_offsets
from eventbus.settings import Settings
from local.stack import state
from local.stack.health import wait_until
from local.stack.supervision import Supervisor
from tests.support.spark_kit import latest_by_key

OUTPUTS = ("topic_processed_events", "topic_user_state", "topic_booking_state")
FIELDS = ("user_id", "status", "currency", "hotel_id", "destination")


def _spark_start() -> float:
    info: dict[str, Any] = Supervisor(state.current())._rpc().supervisor.getProcessInfo("spark")
    if info["statename"] not in ("RUNNING", "STARTING"):
        pytest.fail(f"stack program spark is {info['statename']} — see local/.state/logs/spark.log")
    return float(info["start"])


def test_outputs_within_3_minutes_and_booking_state_matches_postgres() -> None:
    settings = Settings()
    started = _spark_start()
    budget = max(started + 180 - time.time(), 10.0)
    wait_until(lambda: all(sum(end_offsets(settings, t).values()) > 0 for t in OUTPUTS), budget,
               "records in topic_processed_events, topic_user_state and topic_booking_state within 3 min of start")
    states = {k: v for k, v in latest_by_key(settings, "topic_booking_state").items() if v is not None}
    assert states
    with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
        cur.execute("SELECT booking_id, user_id, status, currency, hotel_id, destination, amount, updated_at "
                    "FROM bookings WHERE booking_id = ANY(%s)", (list(states),))
        rows = {r[0]: r for r in cur.fetchall()}
    compared, mismatched = 0, []
    for booking_id, row in rows.items():
        st = states[booking_id]
        pg_updated = row[7].astimezone(UTC).replace(microsecond=row[7].microsecond // 1000 * 1000)
        if st["updated_ts"] != pg_updated:
            continue  # the row changed after the state the job last emitted (still in flight)
        compared += 1
        want = dict(zip(FIELDS, [r.strip() if isinstance(r, str) else r for r in row[1:6]], strict=True))
        if {f: st[f] for f in FIELDS} != want or st["amount"] != pytest.approx(float(row[6])):
            mismatched.append((booking_id, st, row))
    assert compared > 0, "no booking state caught up with its row"
    assert mismatched == []


def test_the_driver_says_which_queries_it_started_in_its_log() -> None:
    """The driver's own lines (queries started, restarts for new schema versions) reach its log, as JSON."""
    from emr_jobs.jobs import registry

    started = _spark_start()
    want = sorted(registry(Settings()).queries())
    log = state.current().program_log("spark")

    def started_line() -> dict[str, Any] | None:
        for line in reversed(log.read_text(errors="replace").splitlines()):
            if line.startswith("{") and '"started ' in line:
                rec: dict[str, Any] = json.loads(line)
                ts = datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).timestamp()
                return rec if ts >= started - 1 else None
        return None

    wait_until(lambda: started_line() is not None, max(started + 180 - time.time(), 10.0),
               f"a 'started … queries' line in {log} since the spark program started")
    rec = started_line()
    assert rec is not None and rec["level"] == "INFO" and rec["logger"] == "emr_jobs"
    head, _, names = rec["msg"].partition(";")[0].partition(": ")
    assert head == f"started {len(want)} queries" and sorted(names.split(", ")) == want
