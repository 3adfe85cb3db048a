"""One verify run: read the truth, derive the expected outputs, read the outputs, reconcile, time the
stages, write the result (``<result dir>/last.json`` + a line in ``history.jsonl`` for the console).

    >>> result = verify(Settings(profile="local"), VerifySettings())
    >>> result["ok"], [r["output"] for r in result["rows"]]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from eventbus.catalog import load_catalog
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.verify.exceptions import VerifyError
from lambdas.verify.expected import TruthSet, expected_outputs, iso_minute
from lambdas.verify.latency import app_latency, cdc_latency
from lambdas.verify.reading import TRUTH, Read, read_topic, read_truth_file
from lambdas.verify.reconcile import Row, reconcile_bookings, reconcile_postgres, reconcile_windows
from lambdas.verify.rules import Rules
from lambdas.verify.settings import VerifySettings

PROCESSED = "topic_processed_events"
BOOKING_STATE = "topic_booking_state"
APP_EVENTS = "topic_app_events"
CDC = "topic_cdc_changes"
REJECTS = "topic_dead_letter"  # what the lake query could not decode


def verify(settings: Settings, vs: VerifySettings, *, truth_file: Path | None = None, now_ms: int | None = None,
           latency: bool = True, write: bool = True) -> dict[str, Any]:
    t0 = time.monotonic()
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    catalog = load_catalog(settings)
    rules = Rules.load(catalog)
    serde = AvroSerde(settings)
    pre = vs.topic_prefix
    reads: dict[str, Read] = {}

    def read(topic: str, since: int | None) -> Read:
        r = read_topic(settings, pre + topic, since, vs.read_timeout_s, serde)
        reads[topic] = r
        return r

    truth_msgs = read_truth_file(truth_file, serde) if truth_file else read(TRUTH, None).msgs
    truth = TruthSet.from_msgs(truth_msgs, pre)
    if not truth.runs:
        raise VerifyError(f"no truth in {truth_file or pre + TRUTH} for topic prefix {pre!r} — run the simulators "
                          "with truth on (the default scenario has it; `make local-up` runs it) and wait a few minutes")
    newest = max((max(r["covered_to"].values(), default=0) for r in truth.runs.values()), default=0)
    since = newest - int(vs.hours * 3_600_000) if vs.hours else None
    exp = expected_outputs(truth, rules, now, int(vs.grace_s * 1000), int(vs.stale_run_s * 1000), since,
                           int(vs.booking_quiet_s * 1000))
    read_from = exp.span[0] if exp.span else now
    processed = read(PROCESSED, read_from).msgs
    rows: list[Row] = reconcile_windows(exp, processed)
    booking_state = read(BOOKING_STATE, None).msgs
    rows.append(reconcile_bookings(exp, booking_state))
    if vs.check_postgres and not pre:
        rows.append(reconcile_postgres(postgres_bookings(settings, now, vs.booking_quiet_s, since), booking_state))
    if vs.check_lake and not pre:
        from lambdas.verify.lake import reconcile_lake
        from lambdas.verify.rules import lake_root

        lake_since = now - int((vs.hours or 24) * 3_600_000)
        dead = read(REJECTS, lake_since).msgs
        lake_topics = catalog.read_by("spark")
        dedup = {t: str(catalog.get(t).dedup_key) for t in lake_topics if catalog.get(t).dedup_key}
        rows.append(reconcile_lake(settings, lake_root(), lake_topics, dead, lake_since, now, dedup_keys=dedup,
                                   timeout_s=vs.read_timeout_s))
    stages = []
    if latency:
        app = read(APP_EVENTS, read_from).msgs
        skew = catalog.get(APP_EVENTS).event_time.max_future_skew_ms  # type: ignore[union-attr]
        stages = app_latency(app, processed, rules, skew, exp.compared.get("app_events"))
        stages += cdc_latency(read(CDC, read_from).msgs, booking_state)
    result = {
        "ok": all(r.ok for r in rows) and any(r.compared for r in rows),
        "compared_anything": any(r.compared for r in rows),
        "verified_at": now, "seconds": round(time.monotonic() - t0, 3), "topic_prefix": pre,
        "rows": [r.as_dict(vs.show_keys) for r in rows],
        "skipped": dict(exp.skipped), "tallies": dict(exp.tallies),
        "span": list(exp.span) if exp.span else None,
        "compared_windows": {job: sorted(iso_minute(s) for s in starts) for job, starts in exp.compared.items()},
        "latency": [s.__dict__ for s in stages],
        "runs": {rid: {k: r.get(k) for k in ("scenario", "seed", "ended", "covered_to", "faults", "counters")}
                 for rid, r in truth.runs.items()},
        "reads": {t: {"records": len(r.msgs), "undecodable": r.undecodable, "seconds": round(r.seconds, 3)}
                  for t, r in reads.items()},
        "rules": {"windows_ms": {k: [w.size_ms, w.slide_ms] for k, w in rules.windows.items()},
                  "watermark_ms": rules.watermark_ms, "grace_s": vs.grace_s, "booking_quiet_s": vs.booking_quiet_s},
    }
    if write:
        save(result, vs.results())
    return result


def postgres_bookings(settings: Settings, now_ms: int, quiet_s: float,
                      since_ms: int | None) -> dict[str, dict[str, Any]]:
    """Booking rows (and their payment's status) unchanged for ``quiet_s``: what booking_state must say."""
    import psycopg2

    try:
        conn = psycopg2.connect(settings.pg_dsn())
    except psycopg2.Error as exc:
        raise VerifyError(f"PostgreSQL at {settings.pg_host}:{settings.pg_port} unreachable ({str(exc).strip()}) — "
                          "run `make local-up`, or set EB_VERIFY_CHECK_POSTGRES=false") from None
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT b.booking_id, b.status, p.status, b.user_id FROM bookings b "
                "LEFT JOIN payments p ON p.booking_id = b.booking_id "
                "WHERE greatest(b.updated_at, coalesce(p.updated_at, b.updated_at)) <= to_timestamp(%s) "
                "AND b.created_at >= to_timestamp(%s)",
                ((now_ms / 1000) - quiet_s, (since_ms or 0) / 1000))
            return {bid: {"status": st, "payment_status": ps, "user_id": uid} for bid, st, ps, uid in cur.fetchall()}
    finally:
        conn.close()


def save(result: dict[str, Any], folder: Path) -> None:
    """``last.json`` (replaced atomically) and one line per run in ``history.jsonl`` (latencies over time)."""
    try:
        _save(result, folder)
    except OSError as exc:
        raise VerifyError(f"cannot write the result to {folder}: {exc.strerror} — set EB_VERIFY_RESULT_DIR "
                          "to a writable folder") from None


def _save(result: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "last.json.tmp"
    tmp.write_text(json.dumps(result, default=str, indent=1))
    tmp.replace(folder / "last.json")
    summary = {"verified_at": result["verified_at"], "ok": result["ok"], "seconds": result["seconds"],
               "rows": {r["output"]: {k: r[k] for k in ("compared", "matched", "missing", "extra", "wrong")}
                        for r in result["rows"]},
               "latency": {s["name"]: [s["p50_ms"], s["p99_ms"]] for s in result["latency"]}}
    with open(folder / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(summary) + "\n")
