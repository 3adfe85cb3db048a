"""`make drill-spark`: SIGKILL the Spark driver mid-stream under load, restart it from its checkpoint, and
check that the final windows and per-key state equal those of an uninterrupted run on the same input.

1. Scratch topics; a producer thread writes app events + CDC changes (booking/user workload) at a steady rate.
2. Run A: `python -m emr_jobs run` (app_events, booking_state, user_state) as a subprocess, small batches;
   once a few micro-batches are committed it is killed with SIGKILL; when the load is done it is
   restarted with `--once` on the same checkpoints and drains the rest.
3. Run B: the same jobs, uninterrupted (`--once`), into a second set of output topics.
4. Compare the last value per key of every output (computed_ts / updated_ts aside) and count the
   duplicates run A wrote (the same key and value twice: the replayed micro-batch).

    python -m bench.spark_drill --events 200000 --bookings 3000
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import write_results
from emr_jobs.jobs import output_topics
from emr_jobs.streams import CHECKPOINT_NAMES
from eventbus.cli import exit_with
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from local.stack.health import wait_until
from tests.support.spark_data import app_events, oltp_load
from tests.support.spark_kit import ScratchTopics, produce, produce_raw, read_topic

JOBS = "app_events,booking_state,user_state"
#: fields stamped with the wall clock when written (the rest is a function of the input)
VOLATILE = {"topic_processed_events": ("computed_ts",), "topic_user_state": ("updated_ts",),
            "topic_booking_state": ()}


def driver(overrides: str, root: Path, once: bool, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EB_SPARK_TOPIC_OVERRIDES": overrides, "EB_SPARK_CHECKPOINT_ROOT": str(root / "ckpt"),
           "EB_SPARK_PROGRESS_DIR": str(root / "progress"), "EB_SPARK_UI_PORT": "0",
           "EB_SPARK_TRIGGER_SECONDS": "1", "EB_SPARK_MAX_OFFSETS_PER_TRIGGER": "20000",
           # wider than the load's event-time span: no event is late in either run, whatever the batch cut
           "EB_SPARK_WATERMARK": "2 hours"}
    cmd = [sys.executable, "-m", "emr_jobs", "run", "--jobs", JOBS, *(["--once"] if once else [])]
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def commits(root: Path, query: str) -> int:
    d = root / "ckpt" / CHECKPOINT_NAMES.get(query, query) / "commits"
    return len([p for p in d.glob("*") if p.name.isdigit()]) if d.is_dir() else 0


def outputs(settings: Settings, topics: ScratchTopics, serde: AvroSerde) -> tuple[dict[str, Any], int, int]:
    """Last value per (topic, key) without volatile fields; records read; exact duplicates among them."""
    last: dict[str, Any] = {}
    seen: Counter[tuple[str, str, str]] = Counter()
    n = 0
    for logical in ("topic_processed_events", "topic_booking_state", "topic_user_state"):
        for k, v in read_topic(settings, topics.actual(logical), timeout=180):
            rec = None if v is None else {f: x for f, x in serde.decode(v).items() if f not in VOLATILE[logical]}
            key = (k or b"").decode()
            last[f"{logical}|{key}"] = rec
            seen[(logical, key, repr(rec))] += 1
            n += 1
    return last, n, sum(c - 1 for c in seen.values() if c > 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark_drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--bookings", type=int, default=3_000)
    parser.add_argument("--rate", type=int, default=20_000, help="records/s of the background load")
    args = parser.parse_args(argv)
    settings, serde = Settings(), AvroSerde(Settings())
    root = Path(tempfile.mkdtemp(prefix="drill-spark-"))
    log = root / "driver.log"
    sources = ["topic_app_events", "topic_cdc_changes"]
    events = app_events(args.events, seed=3, span_s=3600, users=200)
    db = oltp_load(args.bookings)
    with ScratchTopics(settings, [*sources, *output_topics(settings)], partitions=3, prefix="t_spark_drill") as a, \
            ScratchTopics(settings, list(output_topics(settings)), partitions=3, prefix="t_spark_drill") as b:
        b_overrides = ",".join([*(f"{t}={a.actual(t)}" for t in sources), b.overrides])

        def load() -> None:
            step = max(args.rate // 10, 1)
            cdc = [(k.encode(), serde.encode("topic_cdc_changes", c)) for k, c in db.changes]
            for i in range(0, max(len(events), len(cdc)), step):
                produce(settings, a.actual("topic_app_events"), "topic_app_events", events[i:i + step], "user_id",
                        serde)
                produce_raw(settings, a.actual("topic_cdc_changes"), cdc[i:i + step])
                time.sleep(0.1)

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        t0 = time.monotonic()
        proc = driver(a.overrides, root / "a", once=False, log=log)
        wait_until(lambda: commits(root / "a", "app_events") >= 3 and commits(root / "a", "user_state") >= 2,
                   600, "3 committed micro-batches in run A", abort=lambda: None if proc.poll() is None else
                   f"driver exited with {proc.returncode} (see {log})")
        killed_at = {q: commits(root / "a", q) for q in ("app_events", "cdc_booking_state", "user_state")}
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"SIGKILLed the driver after {time.monotonic() - t0:.0f}s; committed batches {killed_at}",
              file=sys.stderr)
        loader.join()
        for overrides, run_root in ((a.overrides, root / "a"), (b_overrides, root / "b")):  # one after the other
            rc_run = driver(overrides, run_root, once=True, log=log)
            if rc_run.wait(timeout=1800) != 0:
                raise SystemExit(f"driver failed (exit {rc_run.returncode}); see {log}")
        got_a, n_a, dup_a = outputs(settings, a, serde)
        got_b, n_b, dup_b = outputs(settings, b, serde)
    differ = sorted(k for k in got_a.keys() | got_b.keys() if got_a.get(k, "missing") != got_b.get(k, "missing"))
    rows = [
        {"run": "A: killed + restarted", "records": n_a, "keys": len(got_a), "duplicates": dup_a},
        {"run": "B: uninterrupted", "records": n_b, "keys": len(got_b), "duplicates": dup_b},
    ]
    write_results("spark_drill", rows, {"killed_after_commits": killed_at, "keys_differing": len(differ),
                                        "sample_differences": differ[:10], "events": args.events,
                                        "cdc_changes": len(db.changes)})
    if differ:
        print(f"FAIL: {len(differ)} keys differ between the killed and the uninterrupted run, e.g. {differ[:3]}")
        return 1
    print(f"OK: {len(got_a)} keys equal after a SIGKILL + restart; {dup_a} duplicate records in run A's outputs "
          "(replayed micro-batch, same keys and values)")
    return 0


if __name__ == "__main__":
    exit_with(main)
