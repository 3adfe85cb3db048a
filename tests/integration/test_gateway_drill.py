"""The no-loss drill, short: stop the real broker under load, keep sending, start it again.
(`make drill-gateway` runs the longer version and writes bench/results/gateway_drill.json.)"""

from __future__ import annotations

import pytest

from bench.gateway_drill import run_drill


@pytest.mark.slow
def test_no_event_answered_2xx_is_lost_and_none_absent_was_answered_2xx() -> None:
    report = run_drill(rate=200, before_s=4, outage_s=6, after_s=5, connections=12)
    print(report)
    assert report["accepted_2xx"] > 0 and report["answered_503"] > 0  # the outage really happened
    assert report["accepted_missing_from_kafka"] == 0
    assert report["duplicates_in_kafka"] == 0
    assert report["in_kafka_not_sent_or_rejected"] == 0
    assert report["present_despite_not_persisted_503"] == 0
    assert report["unready_while_down"] and report["ready_after_restart"]
    assert report["ok"]
