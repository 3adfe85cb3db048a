"""Per-process counters, served at ``GET /metrics`` (Prometheus text; ``?format=json`` for JSON).

Under uvicorn with several workers each worker counts for itself (the ``pid`` label tells them
apart); on Lambda each container does. Plain ints: they are only touched on the event loop.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

_HELP = {
    "events_accepted": "events the broker acknowledged (answered accepted)",
    "events_rejected": "events refused as invalid (never produced)",
    "events_failed": "events not acknowledged in time (answered 503 / failed)",
    "events_possibly_persisted": "failed events that the broker may still have written (possible duplicates)",
    "requests_unauthorized": "requests without a valid x-api-key",
}


class GatewayCounters:
    def __init__(self) -> None:
        self.events_accepted = 0
        self.events_rejected = 0
        self.events_failed = 0
        self.events_possibly_persisted = 0
        self.requests_unauthorized = 0
        self.responses: Counter[tuple[str, int]] = Counter()

    def as_dict(self, producer: Any | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": os.getpid(), **{name: getattr(self, name) for name in _HELP}}
        out["responses"] = [{"route": r, "status": s, "count": n} for (r, s), n in sorted(self.responses.items())]
        if producer is not None:
            out["producer"] = {"delivered": producer.delivered, "failed": producer.failed, "queued": len(producer)}
        return out

    def prometheus(self, producer: Any | None = None) -> str:
        pid = os.getpid()
        lines = []
        for name, text in _HELP.items():
            lines += [
                f"# HELP gateway_{name}_total {text}",
                f"# TYPE gateway_{name}_total counter",
                f'gateway_{name}_total{{pid="{pid}"}} {getattr(self, name)}',
            ]
        lines += ["# HELP gateway_responses_total HTTP responses", "# TYPE gateway_responses_total counter"]
        lines += [
            f'gateway_responses_total{{pid="{pid}",route="{r}",status="{s}"}} {n}'
            for (r, s), n in sorted(self.responses.items())
        ]
        if producer is not None:
            lines += [
                "# TYPE gateway_producer_queued gauge",
                f'gateway_producer_queued{{pid="{pid}"}} {len(producer)}',
            ]
        return "\n".join(lines) + "\n"
