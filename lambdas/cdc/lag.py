"""Lag metrics of the relay: how far behind the database it is, in bytes and in milliseconds.

* ``lag_bytes``     server's current WAL position minus the slot's confirmed LSN (both read together);
* ``retained_bytes`` WAL the slot forces PostgreSQL to keep (current position minus restart_lsn);
* ``lag_ms``        age of the oldest transaction not yet fully acknowledged (0 when caught up);
* ``heartbeat_lag_ms`` emit -> confirmable time of the last heartbeat (end-to-end liveness);
* commit -> Kafka-ack latency of every transaction (histogram; p50/p99 over each log window).

Exposed as Prometheus text on ``http://127.0.0.1:<port>/metrics`` and JSON on ``/status`` (port 0 =
off) and logged every ``log_interval`` seconds as one ``cdc status`` line.

    >>> m = RelayMetrics("travel_cdc")
    >>> server = MetricsServer(m, port=9187).start()
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from typing import Any

from eventbus.status_server import StatusServer, json_route, text_route
from lambdas.cdc.inflight import Unit

BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000)
_WINDOW_CAP = 1_000_000


def percentile(samples: list[float], pct: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)  # nearest rank
    return ordered[min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))]


class RelayMetrics:
    def __init__(self, slot: str) -> None:
        self.slot = slot
        self.started = time.time()
        # counters
        self.changes = 0  # records handed to Kafka (streaming)
        self.acked = 0
        self.transactions = 0
        self.snapshot_rows = 0
        self.heartbeats_sent = 0
        self.keepalives = 0
        self.reconnects = 0
        self.producer_replacements = 0  # producers replaced after a transient delivery failure
        # gauges
        self.received_lsn = 0
        self.confirmed_lsn = 0
        self.server_lsn = 0
        self.slot_confirmed_lsn = 0
        self.retained_bytes = 0
        self.inflight_records = 0
        self.lag_ms = 0.0
        self.heartbeat_lag_ms: float | None = None
        self.state = "starting"
        # commit -> ack latency
        self._buckets = [0] * (len(BUCKETS_MS) + 1)
        self._lat_sum = 0.0
        self._lat_count = 0
        self._window: list[float] = []
        #: when a list, every commit -> ack latency is appended as well (benchmarks read it)
        self.samples: list[float] | None = None

    @property
    def lag_bytes(self) -> int:
        if not self.server_lsn or not self.slot_confirmed_lsn:
            return 0
        return max(0, self.server_lsn - self.slot_confirmed_lsn)

    def on_complete(self, unit: Unit, now_ms: float) -> None:
        """InFlight listener: a transaction's last record was acknowledged (or a heartbeat came back)."""
        if unit.marker:
            if unit.sent_ms:
                self.heartbeat_lag_ms = now_ms - unit.sent_ms
            return
        self.transactions += 1
        latency = now_ms - unit.commit_ms
        self._buckets[bisect_left(BUCKETS_MS, latency)] += 1
        self._lat_sum += latency
        self._lat_count += 1
        if len(self._window) < _WINDOW_CAP:
            self._window.append(latency)
        if self.samples is not None:
            self.samples.append(latency)

    def take_window(self) -> list[float]:
        """Latency samples (ms) since the previous call."""
        window, self._window = self._window, []
        return window

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "state": self.state,
            "uptime_s": round(time.time() - self.started, 1),
            "changes": self.changes,
            "acked": self.acked,
            "transactions": self.transactions,
            "snapshot_rows": self.snapshot_rows,
            "inflight_records": self.inflight_records,
            "lag_bytes": self.lag_bytes,
            "retained_bytes": self.retained_bytes,
            "lag_ms": round(self.lag_ms, 1),
            "heartbeat_lag_ms": None if self.heartbeat_lag_ms is None else round(self.heartbeat_lag_ms, 1),
            "confirmed_lsn": self.confirmed_lsn,
            "server_lsn": self.server_lsn,
            "heartbeats_sent": self.heartbeats_sent,
            "reconnects": self.reconnects,
            "producer_replacements": self.producer_replacements,
        }

    def prometheus(self) -> str:
        label = f'{{slot="{self.slot}"}}'
        lines = []
        for name, kind, value, help_ in (
            ("cdc_changes_total", "counter", self.changes, "row changes handed to Kafka"),
            ("cdc_acked_total", "counter", self.acked, "records acknowledged by Kafka"),
            ("cdc_transactions_total", "counter", self.transactions, "transactions fully acknowledged"),
            ("cdc_snapshot_rows_total", "counter", self.snapshot_rows, "rows emitted by the initial snapshot"),
            ("cdc_reconnects_total", "counter", self.reconnects, "replication reconnects"),
            ("cdc_producer_replacements_total", "counter", self.producer_replacements,
             "Kafka producers replaced after a transient delivery failure (replayed from the slot)"),
            ("cdc_inflight_records", "gauge", self.inflight_records, "records awaiting a Kafka ack"),
            ("cdc_lag_bytes", "gauge", self.lag_bytes, "server WAL position minus confirmed LSN"),
            ("cdc_retained_wal_bytes", "gauge", self.retained_bytes, "WAL held back by the slot"),
            ("cdc_lag_ms", "gauge", self.lag_ms, "age of the oldest unacknowledged transaction"),
            ("cdc_confirmed_lsn", "gauge", self.confirmed_lsn, "LSN confirmed to PostgreSQL"),
        ):
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{label} {value}"]
        if self.heartbeat_lag_ms is not None:
            lines += ["# TYPE cdc_heartbeat_lag_ms gauge", f"cdc_heartbeat_lag_ms{label} {self.heartbeat_lag_ms}"]
        lines += ["# HELP cdc_commit_to_ack_ms commit -> last Kafka ack of a transaction",
                  "# TYPE cdc_commit_to_ack_ms histogram"]
        cumulative = 0
        for bound, count in zip((*BUCKETS_MS, "+Inf"), self._buckets, strict=True):
            cumulative += count
            lines.append(f'cdc_commit_to_ack_ms_bucket{{slot="{self.slot}",le="{bound}"}} {cumulative}')
        lines.append(f"cdc_commit_to_ack_ms_sum{label} {self._lat_sum}")
        lines.append(f"cdc_commit_to_ack_ms_count{label} {self._lat_count}")
        return "\n".join(lines) + "\n"


class MetricsServer(StatusServer):
    """``/metrics`` (Prometheus text) and ``/status`` (JSON) of ``metrics``, on 127.0.0.1 only."""

    def __init__(self, metrics: RelayMetrics, port: int, host: str = "127.0.0.1") -> None:
        self.metrics = metrics
        super().__init__({"/metrics": text_route(metrics.prometheus), "/status": json_route(metrics.as_dict)},
                         port, host, name="cdc-metrics")
