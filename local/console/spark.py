"""Spark queries' progress from the files the driver's StreamingQueryListener writes.

Contract (emr_jobs/README.md): ``<progress dir>/<query name>.json`` holds the query's latest
``StreamingQueryProgress.json`` (what ``query.lastProgress`` gives), replaced atomically. A file not
rewritten for ``STALE_S`` seconds belongs to a query that stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

STALE_S = 120.0


def _source_lag(source: dict[str, Any]) -> int | None:
    """Records between the batch's end offsets and the latest offsets (Kafka sources), when both are given."""
    try:
        end = source["endOffset"]
        latest = source["latestOffset"]
        end = json.loads(end) if isinstance(end, str) else end
        latest = json.loads(latest) if isinstance(latest, str) else latest
        return sum(int(latest[t][p]) - int(end.get(t, {}).get(p, 0)) for t in latest for p in latest[t])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def queries(progress_dir: Path) -> dict[str, Any]:
    """Every query's latest progress, or a message saying that no Spark query is running."""
    files = sorted(progress_dir.glob("*.json")) if progress_dir.is_dir() else []
    out: list[dict[str, Any]] = []
    now = time.time()
    for f in files:
        try:
            p = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            out.append({"name": f.stem, "error": f"unreadable progress file {f}: {exc}"})
            continue
        age = now - f.stat().st_mtime
        out.append({
            "name": p.get("name") or f.stem,
            "batch_id": p.get("batchId"),
            "timestamp": p.get("timestamp"),
            "input_rows_per_s": p.get("inputRowsPerSecond"),
            "processed_rows_per_s": p.get("processedRowsPerSecond"),
            "num_input_rows": p.get("numInputRows"),
            "batch_duration_ms": (p.get("durationMs") or {}).get("triggerExecution"),
            "watermark": (p.get("eventTime") or {}).get("watermark"),
            "sources": [{"description": s.get("description"), "lag_records": _source_lag(s)}
                        for s in p.get("sources") or []],
            "age_s": round(age, 1),
            "stale": age > STALE_S,
        })
    running = [q for q in out if not q.get("stale") and "error" not in q]
    message = None if running else (
        f"no Spark queries running (no fresh progress files in {progress_dir} — see emr_jobs/README.md)"
    )
    return {"dir": str(progress_dir), "queries": out, "message": message}
