"""The state folds of booking_state and user_state as plain functions (a GroupState stand-in, pandas rows):
tombstones keep their position so an older re-delivered change cannot bring a row back, and the timeout
is the latest change + the state timeout, counted once."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

pytest.importorskip("pyspark")

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
    row = dict.fromkeys(booking_state.INPUT_COLS)
    row.update(booking_id="b1", tbl="bookings", op=op, lsn=lsn, ord=1, status=status, user_id="u1", amount="10.0",
               commit_ts=T0 + pd.Timedelta(seconds=at))
    return row


def _fold_booking(state: State, *rows: dict[str, Any]) -> list[pd.DataFrame]:
    return list(booking_state.fold(("b1",), iter([pd.DataFrame(list(rows))]), state, timeout_ms=30 * DAY))


def test_deleted_booking_keeps_a_tombstone_state_and_ignores_older_changes() -> None:
    state = State()
    out = _fold_booking(state, _booking(10, "c"), _booking(20, "d", at=5))
    assert [bool(o["deleted"].iloc[0]) for o in out] == [True]
    assert state.exists  # tombstone state with its position
    assert _fold_booking(state, _booking(15, "u", "confirmed", at=9)) == []  # re-delivered, older: no revival
    revived = _fold_booking(state, _booking(30, "c", "confirmed", at=60))  # a newer change does revive it
    assert [(bool(o["deleted"].iloc[0]), o["status"].iloc[0]) for o in revived] == [(False, "confirmed")]


def test_booking_timeout_is_the_latest_change_plus_the_state_timeout_once() -> None:
    state = State(watermark_ms=int(T0.value // 1_000_000))
    _fold_booking(state, _booking(10, "c", at=60))
    assert state.timeout == int(T0.value // 1_000_000) + 60_000 + 30 * DAY
    state.hasTimedOut = True
    assert list(booking_state.fold(("b1",), iter([]), state)) == [] and not state.exists


def _user_rows(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {"user_id": "u1", "kind": "event", "ts_ms": 0, "lsn": 0, "ord": 0, "op": None, "session_id": None,
            "destination": None, "booking_id": None, "amount": None, "status": None, "home_city": None,
            "segment": None, "row_ts": T0}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_deleted_user_stays_deleted_until_a_newer_change() -> None:
    state = State()
    ms = int(T0.value // 1_000_000)
    out = list(user_state.fold(("u1",), iter([_user_rows(
        {"kind": "user", "op": "c", "lsn": 10, "ord": 1, "ts_ms": ms, "home_city": "Hue", "segment": "family"},
        {"kind": "event", "ts_ms": ms + 1000, "session_id": "s1", "row_ts": T0 + pd.Timedelta(seconds=1)},
        {"kind": "user", "op": "d", "lsn": 20, "ord": 1, "ts_ms": ms})]), state, timeout_ms=30 * DAY))
    assert [bool(o["deleted"].iloc[0]) for o in out] == [True]
    assert state.exists
    assert state.timeout == ms + 1000 + 30 * DAY  # the latest row + the timeout, once
    again = list(user_state.fold(("u1",), iter([_user_rows(
        {"kind": "user", "op": "u", "lsn": 15, "ord": 1, "ts_ms": ms, "home_city": "Hanoi"},
        {"kind": "event", "ts_ms": ms + 5000, "session_id": "s2"})]), state, timeout_ms=30 * DAY))
    assert again == []  # an older change re-delivered and a later event: still a tombstone
    back = list(user_state.fold(("u1",), iter([_user_rows(
        {"kind": "user", "op": "c", "lsn": 30, "ord": 1, "ts_ms": ms, "home_city": "Hanoi"})]), state,
        timeout_ms=30 * DAY))
    assert [(bool(o["deleted"].iloc[0]), o["home_city"].iloc[0]) for o in back] == [(False, "Hanoi")]
