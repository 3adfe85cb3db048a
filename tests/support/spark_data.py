"""Hand-made, deterministic inputs for the Spark jobs and the plain-Python answers they must give.

Used by the Spark unit and integration tests, the drills and the benchmark. Everything here is
plain Python on purpose: it is the reference the Spark output is compared with.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

BASE = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
EVENT_TYPES = ("app_open", "search", "booking_view", "booking_created", "page_view", "login")
PLATFORMS = ("ios", "android", "web")
DESTINATIONS = ("Da Nang", "Hanoi", "Hoi An", None)
SPEND = ("confirmed", "completed")


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def app_events(n: int, seed: int = 7, start: datetime = BASE, span_s: int = 24 * 60,
               users: int = 8) -> list[dict[str, Any]]:
    """``n`` app events over ``span_s`` seconds from ``start``, unique millisecond timestamps."""
    rnd = random.Random(seed)
    offsets = sorted(rnd.sample(range(span_s * 1000), n))
    out = []
    for i, off in enumerate(offsets):
        ts = start + timedelta(milliseconds=off)
        user = f"u{rnd.randrange(users) + 1}"
        out.append({
            "event_id": f"e-{seed}-{i}", "event_type": rnd.choice(EVENT_TYPES), "event_ts": ts, "received_ts": ts,
            "user_id": user, "session_id": f"s-{user}-{rnd.randrange(3)}", "platform": rnd.choice(PLATFORMS),
            "destination": rnd.choice(DESTINATIONS), "properties": {},
        })
    return out


def window_start(ts: datetime, minutes: int) -> datetime:
    epoch = int(ts.timestamp()) // (minutes * 60) * (minutes * 60)
    return datetime.fromtimestamp(epoch, UTC)


def iso_minute(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%MZ")


def expected_app_windows(events: list[dict[str, Any]], minutes: int = 5) -> dict[str, int]:
    """``{processed-event key: count}`` of the app_events query (job app_events)."""
    counts: Counter[str] = Counter()
    for e in events:
        w = iso_minute(window_start(e["event_ts"], minutes))
        for dim in ("event_type", "platform", "destination"):
            if e[dim] is not None:
                counts[f"app_events|{w}|{dim}={e[dim]}"] += 1
    return dict(counts)


def expected_funnel(events: list[dict[str, Any]], minutes: int = 5) -> dict[str, dict[str, float]]:
    steps: dict[str, list[set[str]]] = defaultdict(lambda: [set(), set(), set()])
    for e in events:
        w = iso_minute(window_start(e["event_ts"], minutes))
        sets = steps[w]
        for i, step in enumerate(("search", "booking_view", "booking_created")):
            if e["event_type"] == step:
                sets[i].add(e["session_id"])
    out = {}
    for w, (s0, s1, s2) in steps.items():
        viewed = s0 & s1
        booked = viewed & s2
        out[f"app_events_funnel|{w}|funnel=search>booking_view>booking_created"] = {
            "sessions_search": float(len(s0)), "sessions_view": float(len(viewed)),
            "sessions_booked": float(len(booked)), "conversion": len(booked) / len(s0) if s0 else 0.0}
    return out


def clicks(n: int, seed: int = 11, start: datetime = BASE, span_s: int = 24 * 60) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i, off in enumerate(sorted(rnd.sample(range(span_s * 1000), n))):
        w, h = rnd.choice(((390, 844), (1440, 900)))
        out.append({
            "click_id": f"c-{seed}-{i}", "event_ts": start + timedelta(milliseconds=off), "user_id": None,
            "session_id": f"cs-{rnd.randrange(5)}", "page_url": rnd.choice(("/", "/search", "/hotel/1")),
            "element_id": rnd.choice(("btn-book", "card-1", "nav")), "element_type": "button",
            "x": rnd.randrange(w), "y": rnd.randrange(h), "viewport_width": w, "viewport_height": h,
            "device_type": "mobile" if w < 500 else "desktop",
        })
    return out


def expected_clicks(events: list[dict[str, Any]], size: int = 10, slide: int = 5, grid: int = 10) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for e in events:
        last = window_start(e["event_ts"], slide)
        for k in range(size // slide):
            w = iso_minute(last - timedelta(minutes=slide * k))
            counts[f"clickstream|{w}|page={e['page_url']}"] += 1
            counts[f"clickstream|{w}|element={e['element_id']}"] += 1
            gx = min(max(e["x"] * grid // e["viewport_width"], 0), grid - 1)
            gy = min(max(e["y"] * grid // e["viewport_height"], 0), grid - 1)
            counts[f"clickstream_heatmap|{w}|heatmap={e['page_url']}|{e['device_type']}|{gx},{gy}"] += 1
    return dict(counts)


class Oltp:
    """A tiny users/bookings/payments database whose every change is a Debezium envelope."""

    def __init__(self, start: datetime = BASE) -> None:
        self.tables: dict[str, dict[str, dict[str, Any]]] = {"users": {}, "bookings": {}, "payments": {}}
        self.changes: list[tuple[str, dict[str, Any]]] = []
        self.lsn = 1000
        self.clock = start

    def _emit(self, table: str, op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        self.lsn += 8
        self.clock += timedelta(seconds=1)
        pk = (after or before or {})[{"users": "user_id", "bookings": "booking_id", "payments": "payment_id"}[table]]
        self.changes.append((f"public.{table}:{pk}", {
            "before": before, "after": after, "op": op, "ts_ms": ms(self.clock),
            "source": {"version": "0.1.0", "connector": "postgresql", "name": "travel", "ts_ms": ms(self.clock),
                       "snapshot": "false", "db": "travel", "schema": "public", "table": table, "txId": self.lsn,
                       "lsn": self.lsn, "xmin": None},
            "transaction": {"id": f"{self.lsn}:{self.lsn}", "total_order": 1, "data_collection_order": 1}}))

    def upsert(self, table: str, pk: str, **values: Any) -> None:
        rows = self.tables[table]
        before = dict(rows[pk]) if pk in rows else None
        now = self.clock.isoformat().replace("+00:00", "Z")
        after = {**(before or {"created_at": now}), **values, "updated_at": now}
        rows[pk] = after
        self._emit(table, "u" if before else "c", before, after)

    def delete(self, table: str, pk: str) -> None:
        before = self.tables[table].pop(pk)
        self._emit(table, "d", before, None)


def oltp_workload() -> Oltp:
    """Creates, updates, payments and deletes over 4 users and 5 bookings."""
    db = Oltp()
    for i, (city, seg) in enumerate((("Hanoi", "leisure"), ("Da Nang", "business"), ("Hue", "family"),
                                     ("Can Tho", "budget")), 1):
        db.upsert("users", f"u{i}", user_id=f"u{i}", email=f"u{i}@x.vn", full_name=f"User {i}", home_city=city,
                  segment=seg)
    for i, (user, amount) in enumerate((("u1", "100.50"), ("u1", "200.00"), ("u2", "300.25"), ("u3", "50.00"),
                                        ("u2", "75.00")), 1):
        db.upsert("bookings", f"b{i}", booking_id=f"b{i}", user_id=user, session_id=None, hotel_id=f"h{i}",
                  destination="Da Nang", check_in="2026-02-01", check_out="2026-02-03", guests=2, amount=amount,
                  currency="VND", status="pending")
    db.upsert("payments", "p1", payment_id="p1", booking_id="b1", amount="100.50", method="card", status="authorized")
    db.upsert("bookings", "b1", status="confirmed")
    db.upsert("payments", "p1", status="captured")
    db.upsert("bookings", "b2", status="cancelled")
    db.upsert("payments", "p2", payment_id="p2", booking_id="b2", amount="200.00", method="card", status="refunded")
    db.upsert("bookings", "b3", status="completed", amount="310.00")
    db.upsert("users", "u2", home_city="Hoi An")
    db.delete("bookings", "b5")
    db.delete("users", "u4")
    return db


def expected_bookings(db: Oltp) -> dict[str, dict[str, Any] | None]:
    """Final booking state per key (None = tombstone)."""
    pay: dict[str, str] = {}
    for _, change in db.changes:
        row = change["after"]
        if change["source"]["table"] == "payments" and row:
            pay[row["booking_id"]] = row["status"]
    out: dict[str, dict[str, Any] | None] = {}
    last_op: dict[str, str] = {}
    for key, change in db.changes:
        if change["source"]["table"] == "bookings":
            pk = key.split(":", 1)[1]
            out[pk] = None if change["op"] == "d" else {}
            last_op[pk] = change["op"]
    for pk, row in db.tables["bookings"].items():
        out[pk] = {"user_id": row["user_id"], "status": row["status"], "payment_status": pay.get(pk),
                   "amount": float(row["amount"]), "currency": row["currency"], "hotel_id": row["hotel_id"],
                   "destination": row["destination"], "check_in": row["check_in"], "check_out": row["check_out"],
                   "created_ts": datetime.fromisoformat(row["created_at"]),
                   "updated_ts": datetime.fromisoformat(row["updated_at"]), "last_op": last_op[pk]}
    return out


def expected_users(db: Oltp, events: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    per_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        per_user[e["user_id"]].append(e)
    deleted = {k.split(":", 1)[1] for k, c in db.changes if c["source"]["table"] == "users" and c["op"] == "d"}
    for user in set(per_user) | set(db.tables["users"]) | deleted:
        if user in deleted:
            out[user] = None
            continue
        evs = sorted(per_user.get(user, []), key=lambda e: e["event_ts"])
        row = db.tables["users"].get(user)
        bookings = [b for b in db.tables["bookings"].values() if b["user_id"] == user]
        dests = [e["destination"] for e in evs if e["destination"]]
        out[user] = {
            "event_count": len(evs), "session_count": len({e["session_id"] for e in evs}),
            "booking_count": len(bookings),
            "total_spend": sum(float(b["amount"]) for b in bookings if b["status"] in SPEND),
            "home_city": row["home_city"] if row else None, "segment": row["segment"] if row else None,
            "last_destination": dests[-1] if dests else None,
        }
    return out


def oltp_load(bookings: int, seed: int = 5, users: int = 200) -> Oltp:
    """A bigger workload for the drill and bench: users, bookings with status/payment updates, deletes."""
    rnd = random.Random(seed)
    db = Oltp()
    for i in range(1, users + 1):
        db.upsert("users", f"u{i}", user_id=f"u{i}", email=f"u{i}@x.vn", full_name=f"User {i}",
                  home_city=rnd.choice(("Hanoi", "Hue", "Da Nang")), segment=rnd.choice(("leisure", "business")))
    for i in range(1, bookings + 1):
        b = f"b{i}"
        db.upsert("bookings", b, booking_id=b, user_id=f"u{rnd.randrange(users) + 1}", session_id=None,
                  hotel_id=f"h{i % 50}", destination="Da Nang", check_in="2026-02-01", check_out="2026-02-03",
                  guests=2, amount=f"{rnd.randrange(100, 5000)}.00", currency="VND", status="pending")
        if rnd.random() < 0.7:
            db.upsert("payments", f"p{i}", payment_id=f"p{i}", booking_id=b, amount="1.00", method="card",
                      status="authorized")
            db.upsert("bookings", b, status=rnd.choice(("confirmed", "cancelled", "completed")))
            db.upsert("payments", f"p{i}", status=rnd.choice(("captured", "refunded")))
        if rnd.random() < 0.05:
            if f"p{i}" in db.tables["payments"]:
                db.delete("payments", f"p{i}")
            db.delete("bookings", b)
    return db
