"""The simulators' opt-in status endpoint the console reads (lambdas/simulators/status.py)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from lambdas.simulators.status import StatusServer, serve


def test_status_serves_counts_and_rates_from_the_snapshot() -> None:
    counts = {"mobile": 0}

    def snapshot() -> dict[str, Any]:
        return {"elapsed_s": 1.0, "sources": {"mobile": {"emitted": counts["mobile"], "target_rate": 5.0,
                                                         "sink": "gateway", "lag_s": 0.0}}, "sinks": {}}

    server = StatusServer(0, snapshot)
    server.sample(now=100.0)
    counts["mobile"] = 50
    mobile = server.status(now=110.0)["sources"]["mobile"]
    assert (mobile["emitted"], mobile["rate_per_s"], mobile["target_per_s"]) == (50, 5.0, 5.0)
    server.start()
    try:
        body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{server.port}/status", timeout=5).read())
        assert body["sources"]["mobile"]["emitted"] == 50 and body["sources"]["mobile"]["sink"] == "gateway"
    finally:
        server.close()
    assert serve(0) is None  # opt-in: port 0 is off
