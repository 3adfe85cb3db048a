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


def _offsets(value: Any) -> dict[str, dict[str, int]] | None:
    value = json.loads(value) if isinstance(value, str) else value
    return value if isinstance(value, dict) else None


def _source_lag(source: dict[str, Any], ends: dict[str, dict[int, tuple[int, int]]] | None) -> int | None:
    """Records between the batch's end offsets and the topic's end: Spark's ``latestOffset`` when it
    reports one, else the console's latest end-offset sample (Kafka sources)."""
    try:
        end = _offsets(source.get("endOffset"))
        if not end:
            return None
        latest = _offsets(source.get("latestOffset"))
        if latest is None and ends is not None:
            latest = {t: {str(p): hi for p, (_lo, hi) in ends[t].items()} for t in end if t in ends}
        if not latest:
            return None
        return sum(max(0, int(latest[t][p]) - int(end.get(t, {}).get(p, 0))) for t in latest for p in latest[t])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def queries(progress_dir: Path, ends: dict[str, dict[int, tuple[int, int]]] | None = None) -> dict[str, Any]:
    """Every query's latest progress, or a message saying that no Spark query is running.

    ``ends``: current (low, high) watermarks per topic and partition, for the per-source lag.
    """
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
            # rows clamped to the trusted time / dropped behind the watermark / dropped as duplicates,
            # in the last batch and since the driver started (emr_jobs.session.event_time_counts)
            "event_time": (p.get("ebEventTime") or {}).get("since_start"),
            "event_time_batch": (p.get("ebEventTime") or {}).get("batch"),
            "sources": [{"description": s.get("description"), "lag_records": _source_lag(s, ends)}
                        for s in p.get("sources") or []],
            "age_s": round(age, 1),
            # A slow batch (a minute on a busy box) is not a stopped query: allow three batch durations.
            "stale": age > max(STALE_S, 3 * ((p.get("durationMs") or {}).get("triggerExecution") or 0) / 1000),
        })
    running = [q for q in out if not q.get("stale") and "error" not in q]
    message = None if running else (
        f"no Spark queries running (no fresh progress files in {progress_dir} — see emr_jobs/README.md)"
    )
    return {"dir": str(progress_dir), "queries": out, "message": message}
