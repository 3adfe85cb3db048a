"""The stack's own Spark program (``spark`` in local/stack/programs.py) on the live topics: within 3 minutes of its
start all three output topics have records, and booking states match their PostgreSQL rows."""

from __future__ import annotations

import time
from datetime import UTC
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
