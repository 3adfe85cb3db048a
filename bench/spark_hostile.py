"""`make drill-spark-hostile`: hostile input through a real gateway into running Spark jobs; every closed
window and every user's event count must equal a plain-Python count of the distinct on-time events.

The gateway app (the same FastAPI app and Gateway class, served by uvicorn in this process because the
gateway produces to catalog topics only) writes to a scratch topic; the app_events and user_state jobs
run in this process too (2-second triggers, the default 10-minute watermark). Event times are relative
to the wall clock (the gateway refuses what is more than 300 s ahead of it):

1. on time: ``--events`` events over [now-60 min, now-30 min], posted in time order, 1% of them re-sent
   (same ``event_id``) — the watermark ends at W1 = max - 10 min;
2. hostile: events up to 20 minutes late (ts in [max-20 min, max]), another 1% of re-sent events, and one
   event dated 2099 (the gateway must answer 422 naming ``event_ts``);
3. closing: a 2099-dated record produced straight to Kafka (past the gateway, as a misbehaving producer
   would: clamped to its received_ts + 300 s) and a few events at now, which close every earlier window.

Plain Python: a late event counts in a window when the window ends after W1 (windows), when its time is
after W1 (user state); each event_id once. The drill fails loudly on any difference.

    python -m bench.spark_hostile --events 5000
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import write_results
from bench.spark_live import LiveDriver
from emr_jobs.session import read_progress
from eventbus.cli import exit_with
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from lambdas.gateway.app import create_app
from lambdas.gateway.ingest import Gateway
from local.stack.health import wait_until
from tests.support.harness import free_port
from tests.support.spark_data import iso_minute, window_start
from tests.support.spark_kit import ScratchTopics, latest_by_key, produce

TYPES = ("app_open", "search", "booking_view", "booking_created", "page_view", "login")
SOURCES = ["topic_app_events", "topic_cdc_changes", "topic_processed_events", "topic_user_state",
           "topic_dead_letter"]


@contextlib.contextmanager
def scratch_gateway(settings: Settings, topic: str) -> Iterator[str]:
    """The gateway app on a free port, producing AppEvents (the catalog's schema) to scratch ``topic``."""
    import uvicorn

    gw = Gateway(settings)
    gw.topic = topic  # encoder and event-time rule stay topic_app_events'; only where it produces moves
    server = uvicorn.Server(uvicorn.Config(create_app(gateway=gw), host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="drill-gateway", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 30, "drill gateway")
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)
        gw.close()


def event(rnd: random.Random, ts: datetime, users: int) -> dict[str, Any]:
    ts = ts.replace(microsecond=ts.microsecond // 1000 * 1000)  # the gateway keeps milliseconds
    user = f"u{rnd.randrange(users)}"
    etype = rnd.choice(TYPES)
    ev = {"event_id": str(uuid.uuid4()), "event_type": etype, "event_ts": ts.isoformat().replace("+00:00", "Z"),
          "user_id": user, "session_id": f"s-{user}-{rnd.randrange(3)}", "platform": rnd.choice(("ios", "web")),
          "destination": rnd.choice(("Hanoi", "Hue", None))}
    if etype == "booking_created":
        ev["booking_id"] = f"b-{rnd.randrange(10**6)}"
    return ev


def post(client: httpx.Client, url: str, key: str, events: list[dict[str, Any]]) -> Counter[int]:
    """Post in batches of 500, in order; per-event statuses counted (200 accepted, 422 rejected)."""
    out: Counter[int] = Counter()
    for i in range(0, len(events), 500):
        r = client.post(f"{url}/events/batch", json={"events": events[i:i + 500]}, headers={"x-api-key": key})
        if r.status_code not in (200, 207, 422):
            raise RuntimeError(f"gateway answered {r.status_code}: {r.text[:300]}")
        for res in r.json()["results"]:
            out[200 if res["status"] == "accepted" else 422] += 1
            if res["status"] not in ("accepted", "rejected"):
                raise RuntimeError(f"gateway did not store an event: {res}")
    return out


def ts_of(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["event_ts"].replace("Z", "+00:00"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.spark_hostile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="on-time events of phase 1 (default 5000)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    rnd = random.Random(args.seed)
    settings = Settings()
    key = settings.gateway_keys()[0]
    root = Path(tempfile.mkdtemp(prefix="drill-spark-hostile-"))
    minutes, delay = 5, timedelta(minutes=10)
    now = datetime.now(UTC).replace(microsecond=0)
    t_start = time.monotonic()
    with ScratchTopics(settings, SOURCES, partitions=3, prefix="t_spark_hostile") as topics, \
            scratch_gateway(settings, topics.actual("topic_app_events")) as url, \
            LiveDriver(settings, topics, ["app_events", "user_state"], root) as live, \
            httpx.Client(timeout=30) as client:
        source = topics.actual("topic_app_events")
        # phase 1: on time, in time order; 1% re-sent at the end
        p1 = sorted((event(rnd, now - timedelta(minutes=60) + timedelta(seconds=rnd.uniform(0, 1800)), args.users)
                     for _ in range(args.events)), key=ts_of)
        resent1 = rnd.sample(p1, max(1, len(p1) // 100))
        status1 = post(client, url, key, p1 + resent1)
        live.wait_consumed("app_events", source)
        live.wait_consumed("user_state", source)
        w1 = max(ts_of(e) for e in p1) - delay
        # phase 2: late (up to 20 min behind the max), 1% re-sent, one event dated 2099
        p2 = [event(rnd, max(ts_of(e) for e in p1) - timedelta(seconds=rnd.uniform(0, 1200)), args.users)
              for _ in range(max(1, args.events // 10))]
        resent2 = rnd.sample(p1, max(1, len(p1) // 100))
        future = event(rnd, datetime(2099, 1, 1, tzinfo=UTC), args.users)
        status2 = post(client, url, key, p2 + resent2)
        refused = client.post(f"{url}/events/user", json={k: v for k, v in future.items() if k != "booking_id"}
                              | {"event_type": "search"}, headers={"x-api-key": key})
        live.wait_consumed("app_events", source)
        live.wait_consumed("user_state", source)
        # phase 3: a 2099 record straight to Kafka (clamped), and events at now that close every window
        received = datetime.now(UTC)
        direct = {**future, "event_ts": datetime(2099, 1, 1, tzinfo=UTC), "received_ts": received,
                  "event_type": "search", "booking_id": None, "properties": {}}
        produce(settings, source, "topic_app_events", [direct], "user_id", AvroSerde(settings))
        p3 = [event(rnd, now, args.users) for _ in range(20)]
        status3 = post(client, url, key, p3)
        live.wait_consumed("app_events", source)
        live.wait_consumed("user_state", source)
        # the watermark the closing events move it to (a no-data batch applies it): clamped time - 10 min
        target = received + timedelta(seconds=300) - delay - timedelta(seconds=1)

        def watermark(q: str) -> datetime:
            live.sup.poll()
            stamp = (live.query(q).lastProgress or {}).get("eventTime", {}).get("watermark") or "1970-01-01T00:00:00Z"
            return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

        wait_until(lambda: watermark("app_events") >= target and watermark("user_state") >= target, 120,
                   "the watermarks to pass the closing events' time - 10 min")
        final_w = watermark("app_events")
        got = latest_by_key(settings, topics.actual("topic_processed_events"))
        users = latest_by_key(settings, topics.actual("topic_user_state"))
        # the progress listener's totals since the driver started (what the console shows)
        counts = {q: (read_progress(live.cfg.progress(), q) or {}).get("ebEventTime", {}).get("since_start", {})
                  for q in ("app_events", "user_state")}
    # plain Python
    clamped_ts = received + timedelta(seconds=300)
    on_time_windows = list(p1) + [e for e in p2 if window_start(ts_of(e), minutes) + timedelta(minutes=minutes) > w1]
    on_time_users = list(p1) + [e for e in p2 if ts_of(e) > w1] + p3 + [{**direct, "event_ts": clamped_ts}]
    expected: Counter[str] = Counter()
    for e in on_time_windows:
        w = iso_minute(window_start(ts_of(e), minutes))
        for dim in ("event_type", "platform", "destination"):
            if e.get(dim) is not None:
                expected[f"app_events|{w}|{dim}={e[dim]}"] += 1
    closed = {k: v for k, v in expected.items()
              if datetime.fromisoformat(k.split("|")[1].replace("Z", ":00+00:00")) + timedelta(minutes=minutes)
              <= final_w}
    spark_closed = {k: v["event_count"] for k, v in got.items()
                    if v and v["job"] == "app_events" and v["window_end"] <= final_w}
    per_user: dict[str, int] = defaultdict(int)
    for e in on_time_users:
        per_user[e["user_id"]] += 1
    user_counts = {u: s["event_count"] for u, s in users.items() if s}
    windows_ok = spark_closed == closed
    users_ok = user_counts == dict(per_user)
    rows: list[dict[str, Any]] = [
        {"what": "events posted (phase 1 / 2 / 3)", "value": f"{len(p1) + len(resent1)} / {len(p2) + len(resent2)} "
                                                              f"/ {len(p3)} (+1 direct to Kafka)"},
        {"what": "gateway: 2099 event answered", "value": f"{refused.status_code} "
                                                          f"{refused.json().get('problems', [{}])[0].get('field')}"},
        {"what": "gateway accepted / rejected", "value": f"{sum(s[200] for s in (status1, status2, status3))} / "
                                                         f"{sum(s[422] for s in (status1, status2, status3))}"},
        {"what": "late events (phase 2): counted in windows / dropped",
         "value": f"{len(on_time_windows) - len(p1)} / {len(p2) - (len(on_time_windows) - len(p1))}"},
        {"what": "closed windows (keys) equal plain Python", "value": f"{windows_ok} ({len(closed)} keys, "
                                                                      f"{sum(closed.values())} counts)"},
        {"what": "users' event_count equal plain Python", "value": f"{users_ok} ({len(per_user)} users)"},
        {"what": "app_events: clamped / late rows dropped / duplicates dropped",
         "value": "{clamped} / {late_dropped} / {duplicates_dropped}".format(**counts["app_events"])},
        {"what": "user_state: clamped / late rows dropped / duplicates dropped",
         "value": "{clamped} / {late_dropped} / {duplicates_dropped}".format(**counts["user_state"])},
        {"what": "final watermark (2099 did not move it)", "value": final_w.isoformat()},
        {"what": "wall seconds", "value": round(time.monotonic() - t_start, 1)},
    ]
    write_results("spark_hostile", rows, {"ok": windows_ok and users_ok and refused.status_code == 422})
    if not (windows_ok and users_ok and refused.status_code == 422):
        diff = {k: (spark_closed.get(k), closed.get(k)) for k in set(spark_closed) | set(closed)
                if spark_closed.get(k) != closed.get(k)}
        udiff = {u: (user_counts.get(u), per_user.get(u)) for u in set(user_counts) | set(per_user)
                 if user_counts.get(u) != per_user.get(u)}
        print(f"FAILED: windows differing (spark, python): {dict(list(diff.items())[:10])}; "
              f"users differing: {dict(list(udiff.items())[:10])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_with(main)
