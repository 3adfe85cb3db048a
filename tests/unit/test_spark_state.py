"""The state folds of booking_state and user_state as plain functions (a GroupState stand-in, pandas rows):
tombstones keep their position so an older re-delivered change cannot bring a row back, and the timeout
is the latest change + the state timeout, counted once; and user_state's input rows (rows_of) on a stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyspark  # noqa: F401  # the spark extra (make test installs it): missing fails collection, never skips

from emr_jobs import booking_state, user_state

DAY = 86_400_000
T0 = pd.Timestamp("2026-01-01T10:00:00Z")


class State:
    """What applyInPandasWithState hands the function, for one key."""

    def __init__(self, watermark_ms: int = 0) -> None:
        self.value: tuple[Any, ...] | None = None
        self.timeout: int | None = None
        self.hasTimedOut = False
        self.watermark_ms = watermark_ms

    @property
    def exists(self) -> bool:
        return self.value is not None

    @property
    def get(self) -> tuple[Any, ...]:
        assert self.value is not None
        return self.value

    def update(self, value: tuple[Any, ...]) -> None:
        self.value = value

    def remove(self) -> None:
        self.value = None

    def setTimeoutTimestamp(self, ms: int) -> None:
        assert ms > self.watermark_ms
        self.timeout = ms

    def getCurrentWatermarkMs(self) -> int:
        return self.watermark_ms


def _booking(lsn: int, op: str, status: str = "pending", at: int = 0) -> dict[str, Any]:
    """One input row of the booking fold: the commit time and the change packed as ``changes`` packs it."""
    change = {"tbl": "bookings", "op": op, "lsn": lsn, "ord": 1, "status": status, "user_id": "u1", "amount": "10.0"}
    assert set(change) <= set(booking_state.CHANGE_FIELDS)
    return {"booking_id": "b1", "commit_ts": T0 + pd.Timedelta(seconds=at), "change": json.dumps(change)}


def _fold_booking(state: State, *rows: dict[str, Any]) -> list[dict[str, Any]]:
    """The fold's output records (its one JSON column, parsed as Spark parses it)."""
    out = booking_state.fold(("b1",), iter([pd.DataFrame(list(rows))]), state, timeout_ms=30 * DAY)
    return [json.loads(v) for frame in out for v in frame["state"]]


def test_deleted_booking_keeps_a_tombstone_state_and_ignores_older_changes() -> None:
    state = State()
    out = _fold_booking(state, _booking(10, "c"), _booking(20, "d", at=5))
    assert [o["deleted"] for o in out] == [True]
    assert state.exists  # tombstone state with its position
    assert _fold_booking(state, _booking(15, "u", "confirmed", at=9)) == []  # re-delivered, older: no revival
    revived = _fold_booking(state, _booking(30, "c", "confirmed", at=60))  # a newer change does revive it
    assert [(o["deleted"], o["status"]) for o in revived] == [(False, "confirmed")]


def test_booking_timeout_is_the_latest_change_plus_the_state_timeout_once() -> None:
    state = State(watermark_ms=int(T0.value // 1_000_000))
    _fold_booking(state, _booking(10, "c", at=60))
    assert state.timeout == int(T0.value // 1_000_000) + 60_000 + 30 * DAY
    state.hasTimedOut = True
    assert list(booking_state.fold(("b1",), iter([]), state)) == [] and not state.exists


CHANGE_FIELDS = ("lsn", "ord", "op", "booking_id", "amount", "status", "home_city", "segment")


def _user_rows(*rows: dict[str, Any]) -> pd.DataFrame:
    """The fold's input as ``rows_of`` makes it: a CDC change's fields packed in its ``change`` JSON."""
    base = {"user_id": "u1", "kind": "event", "ts_ms": 0, "session_id": None, "destination": None, "row_ts": T0}
    out = []
    for r in rows:
        flat = {k: v for k, v in r.items() if k not in CHANGE_FIELDS}
        change = {"lsn": 0, "ord": 0, **{k: v for k, v in r.items() if k in CHANGE_FIELDS and v is not None}}
        out.append({**base, **flat, "change": json.dumps(change) if flat.get("kind", "event") != "event" else None})
    return pd.DataFrame(out)


def _user_out(frame: pd.DataFrame) -> dict[str, Any]:
    """The fold's one output row: its ``state`` JSON (``transforms.FOLD_OUTPUT``), parsed as Spark parses it."""
    assert list(frame.columns) == ["state"] and len(frame) == 1
    return dict(json.loads(frame["state"].iloc[0]))


def test_deleted_user_stays_deleted_until_a_newer_change() -> None:
    state = State()
    ms = int(T0.value // 1_000_000)
    out = list(user_state.fold(("u1",), iter([_user_rows(
        {"kind": "user", "op": "c", "lsn": 10, "ord": 1, "ts_ms": ms, "home_city": "Hue", "segment": "family"},
        {"kind": "event", "ts_ms": ms + 1000, "session_id": "s1", "row_ts": T0 + pd.Timedelta(seconds=1)},
        {"kind": "user", "op": "d", "lsn": 20, "ord": 1, "ts_ms": ms})]), state, timeout_ms=30 * DAY))
    assert [_user_out(o)["deleted"] for o in out] == [True]
    assert state.exists
    assert state.timeout == ms + 1000 + 30 * DAY  # the latest row + the timeout, once
    again = list(user_state.fold(("u1",), iter([_user_rows(
        {"kind": "user", "op": "u", "lsn": 15, "ord": 1, "ts_ms": ms, "home_city": "Hanoi"},
        {"kind": "event", "ts_ms": ms + 5000, "session_id": "s2"})]), state, timeout_ms=30 * DAY))
    assert again == []  # an older change re-delivered and a later event: still a tombstone
    back = list(user_state.fold(("u1",), iter([_user_rows(
        {"kind": "user", "op": "c", "lsn": 30, "ord": 1, "ts_ms": ms, "home_city": "Hanoi"})]), state,
        timeout_ms=30 * DAY))
    assert [(_user_out(o)["deleted"], _user_out(o)["home_city"]) for o in back] == [(False, "Hanoi")]


def test_a_deleted_booking_is_not_brought_back_by_an_older_change_redelivered() -> None:
    """The relay resumes from its confirmed LSN, so changes come again at new offsets: the booking's delete
    keeps its position in the user's state, and an older change arriving in a later batch stays out."""
    state = State()
    ms = int(T0.value // 1_000_000)
    booking = {"kind": "booking", "booking_id": "b1", "ts_ms": ms}
    first = list(user_state.fold(("u1",), iter([_user_rows(
        {"kind": "event", "ts_ms": ms, "session_id": "s1"},
        {**booking, "op": "c", "lsn": 10, "ord": 1, "amount": "100.0", "status": "confirmed"},
        {**booking, "op": "d", "lsn": 20, "ord": 1})]), state, timeout_ms=30 * DAY))
    assert [(_user_out(o)["booking_count"], _user_out(o)["total_spend"]) for o in first] == [(0, 0)]
    again = list(user_state.fold(("u1",), iter([_user_rows(
        {**booking, "op": "u", "lsn": 15, "ord": 1, "amount": "100.0", "status": "confirmed"})]), state,
        timeout_ms=30 * DAY))
    assert [(_user_out(o)["booking_count"], _user_out(o)["total_spend"]) for o in again] == [(0, 0)]
    recreated = list(user_state.fold(("u1",), iter([_user_rows(
        {**booking, "op": "c", "lsn": 30, "ord": 1, "amount": "40.0", "status": "confirmed"})]), state,
        timeout_ms=30 * DAY))
    assert [(_user_out(o)["booking_count"], _user_out(o)["total_spend"]) for o in recreated] == [(1, 40.0)]


def test_user_events_fold_over_batches_with_the_latest_destination_and_distinct_sessions() -> None:
    """The event fields over two micro-batches (the fold handles events column-wise): counts add up,
    first/last seen span both, sessions are distinct across batches, the last destination is the one of
    the latest event that has one (of equal times the later row), and an older event does not replace it."""
    state = State()
    ms = int(T0.value // 1_000_000)
    first = list(user_state.fold(("u1",), iter([_user_rows(
        {"ts_ms": ms + 50, "session_id": "s1", "destination": "Hue"},
        {"ts_ms": ms + 90, "session_id": "s2", "destination": "Hanoi"},
        {"ts_ms": ms + 90, "session_id": "s1", "destination": "Da Nang"},  # same time, later row: wins
        {"ts_ms": ms + 95, "session_id": "", "destination": ""},  # no session, no destination
        {"ts_ms": ms + 10, "session_id": None, "destination": None})]), state, timeout_ms=30 * DAY))
    row = _user_out(first[0])
    assert (row["event_count"], row["session_count"], row["last_destination"]) == (5, 2, "Da Nang")
    assert (row["first_seen_ms"], row["last_seen_ms"]) == (ms + 10, ms + 95)  # epoch ms: Spark makes them timestamps
    second = list(user_state.fold(("u1",), iter([_user_rows(
        {"ts_ms": ms + 60, "session_id": "s2", "destination": "Hoi An"},  # older than Da Nang: not the last
        {"ts_ms": ms + 5, "session_id": "s3"})]), state, timeout_ms=30 * DAY))
    row = _user_out(second[0])
    assert (row["event_count"], row["session_count"], row["last_destination"]) == (7, 3, "Da Nang")
    assert row["first_seen_ms"] == ms + 5


CELL = "struct<member_string: string, member_long: bigint, member_double: double, member_boolean: boolean>"
#: What ``user_state.inputs`` hands ``rows_of``: decoded app events (flat, with ``ts``) and CDC changes.
APP_SCHEMA = ("topic string, partition int, offset long, event_id string, user_id string, session_id string, "
              "destination string, ts timestamp")
CDC_SCHEMA = (f"topic string, partition int, offset long, topic_cdc_changes struct<before: map<string, {CELL}>, "
              f"after: map<string, {CELL}>, source: struct<table: string, lsn: bigint, ts_ms: bigint>, op: string, "
              f"transaction: struct<total_order: bigint>>")


def _s(v: str) -> tuple[Any, ...]:
    return (v, None, None, None)


def _event(event_id: str, user_id: str, at: pd.Timestamp, offset: int = 0, session_id: str = "s1",
           destination: str | None = None) -> tuple[Any, ...]:
    return ("topic_app_events", 0, offset, event_id, user_id, session_id, destination,
            at.to_pydatetime().replace(tzinfo=None))


def _change(table: str, op: str, image: dict[str, Any], lsn: int, committed: pd.Timestamp = T0) -> tuple[Any, ...]:
    before, after = (image, None) if op == "d" else (None, image)
    return ("topic_cdc_changes", 0, lsn, (before, after, (table, lsn, int(committed.value // 1_000_000)), op, (1,)))


class Streams:
    """``user_state.rows_of`` on two folder sources (app events, CDC changes) as the job has two Kafka reads;
    ``add`` writes a micro-batch's files and runs it (a de-duplication and a fold are streaming operators)."""

    def __init__(self, spark: Any, root: Path) -> None:
        self.spark, self.root, self.n = spark, root, 0
        for d in ("app", "cdc"):
            (root / d).mkdir(parents=True)
        self.rows = user_state.rows_of(spark.readStream.schema(APP_SCHEMA).parquet(f"{root}/app/*"),
                                       spark.readStream.schema(CDC_SCHEMA).parquet(f"{root}/cdc/*"), "10 minutes")

    def add(self, q: Any, app: list[tuple[Any, ...]] = (), cdc: list[tuple[Any, ...]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
        for d, rows, schema in (("app", app, APP_SCHEMA), ("cdc", cdc, CDC_SCHEMA)):
            if rows:
                self.spark.createDataFrame(rows, schema).coalesce(1).write.parquet(str(self.root / d / f"b{self.n}"))
        self.n += 1
        q.processAllAvailable()
        assert q.exception() is None
        return dict(q.lastProgress)


def test_user_state_input_rows_flatten_cdc_and_count_each_event_once(spark: Any, tmp_path: Path) -> None:
    """``user_state.rows_of`` on createDataFrame data: app events de-duplicated on ``event_id``, users
    and bookings changes flattened by the row image (``before`` for deletes), other tables and truncates
    left out."""
    streams = Streams(spark, tmp_path / "in")
    got: list[Any] = []
    q = (streams.rows.writeStream.option("checkpointLocation", str(tmp_path / "ck"))
         .foreachBatch(lambda b, _i: got.extend(b.collect())).start())
    try:
        streams.add(q, app=[_event("e1", "u1", T0, 1, "s1", "Hue"),
                            _event("e1", "u1", T0, 7, "s1", "Hue"),  # re-sent: same event_id
                            _event("e2", "u1", T0, 2, "s2")],
                    cdc=[_change("users", "c", {"user_id": _s("u1"), "home_city": _s("Hue"), "segment": _s("family"),
                                                "created_at": _s("2026-01-01T09:00:00Z")}, 10),
                         _change("bookings", "d", {"booking_id": _s("b1"), "user_id": _s("u1"),
                                                   "amount": (None, None, 12.5, None), "status": _s("confirmed")}, 11),
                         _change("payments", "c", {"booking_id": _s("b1"), "status": _s("paid")}, 12),
                         _change("users", "t", {}, 13)])
    finally:
        q.stop()
    changes = [json.loads(r.change) if r.change else {} for r in got]
    by_kind = sorted((r.kind, r.user_id, r.session_id, *(c.get(k) for k in ("booking_id", "amount", "status",
                                                                           "home_city", "op")))
                     for r, c in zip(got, changes, strict=True))
    assert by_kind == [
        ("booking", "u1", None, "b1", "12.5", "confirmed", None, "d"),  # a delete: the before image
        ("event", "u1", "s1", None, None, None, None, None),
        ("event", "u1", "s2", None, None, None, None, None),
        ("user", "u1", None, None, None, None, "Hue", "c"),
    ]


def test_a_lagging_relay_still_reaches_user_state(spark: Any, tmp_path: Path) -> None:
    """App events move their watermark past a change's commit time (a relay lagging longer than the
    watermark): the change is still folded, not dropped as late. Batch 0: user u3 created at 09:55 and an
    app event at 10:30; batch 1: an app event at 10:40 (its watermark 10:30); batch 2: u3's delete,
    committed at 10:15 → u3's tombstone, nothing late. An app event behind both watermarks is still late."""
    from emr_jobs.transforms import fold_states

    streams = Streams(spark, tmp_path / "in")
    states = fold_states(streams.rows, "user_id", user_state.fold, user_state.STATE_SCHEMA, user_state.RECORD_SCHEMA)
    out: list[list[tuple[str, bool]]] = []
    q = (states.writeStream.outputMode("update").option("checkpointLocation", str(tmp_path / "ck"))
         .foreachBatch(lambda b, _i: out.append(sorted((r.user_id, r.deleted) for r in b.collect()))).start())
    late = lambda p: sum(o["numRowsDroppedByWatermark"] for o in p["stateOperators"])  # noqa: E731
    u3 = {"user_id": _s("u3"), "home_city": _s("Hue"), "segment": _s("family"),
          "created_at": _s("2026-01-01T09:55:00Z")}
    try:
        streams.add(q, app=[_event("e1", "u1", T0 + pd.Timedelta(minutes=30))],
                    cdc=[_change("users", "c", u3, 10, T0 - pd.Timedelta(minutes=5))])
        streams.add(q, app=[_event("e2", "u1", T0 + pd.Timedelta(minutes=40))])
        before = len(out)
        progress = streams.add(q, cdc=[_change("users", "d", u3, 20, T0 + pd.Timedelta(minutes=15))])
        assert ([r for batch in out[before:] for r in batch], late(progress)) == ([("u3", True)], 0)
        progress = streams.add(q, app=[_event("e3", "u1", T0 - pd.Timedelta(minutes=30), 1)])
        assert late(progress) == 1
    finally:
        q.stop()
