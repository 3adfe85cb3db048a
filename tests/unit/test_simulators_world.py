"""The simulated world: determinism, journey order, joins across sources, the booking lifecycle."""

from __future__ import annotations

import pytest

from lambdas.simulators.booking import BOOKING_MOVES, OPERATIONS, PAYMENT_MOVES, legal, plan_for, remaining_steps
from lambdas.simulators.exceptions import IllegalTransitionError
from lambdas.simulators.journey import Session
from lambdas.simulators.runner import Runner
from lambdas.simulators.scenario import load_scenario
from lambdas.simulators.sources import REGISTRY, SourceContext
from lambdas.simulators.sources.mobile import MOBILE
from lambdas.simulators.sources.web import WEB
from lambdas.simulators.store import MemoryStore
from lambdas.simulators.world import World, uuid4_of

START = 1_748_764_800_000  # 2025-06-01T08:00:00Z


def _hash_run(seed: int, **extra: str) -> dict:
    overrides = [f"seed={seed}", "start=2025-06-01T08:00:00Z", "speed=max", "count=3000", "hash=true", "sink=discard",
                 "sources.oltp.options.store=memory", "sources.oltp.options.finish=drain",
                 *(f"{k}={v}" for k, v in extra.items())]
    return Runner(load_scenario("default", overrides)).run()


def test_same_seed_and_scenario_give_identical_content_hash() -> None:
    a, b = _hash_run(11), _hash_run(11)
    assert a["content_sha256"] and a["content_sha256"] == b["content_sha256"]
    per_source = {n: s.get("sha256") for n, s in a["sources"].items()}
    assert per_source == {n: s.get("sha256") for n, s in b["sources"].items()}
    assert "sha256" not in a["sources"]["oltp"]  # database timing: excluded, documented
    assert _hash_run(12)["content_sha256"] != a["content_sha256"]


def test_world_ids_are_stable_and_seed_scoped() -> None:
    a, b, c = World(seed=3, users=50), World(seed=3, users=50), World(seed=4, users=50)
    assert [u.user_id for u in a.users] == [u.user_id for u in b.users]
    assert a.users[7] == b.users[7]
    assert not {u.user_id for u in a.users} & {u.user_id for u in c.users}  # seeds never collide in the DB
    assert len({u.email for u in a.users}) == 50
    uid = uuid4_of(2**128 - 1)
    assert uid[14] == "4" and uid[19] in "89ab" and len(uid) == 36


def _sessions(flow, n: int = 400) -> list[Session]:
    world = World(seed=5, users=300)
    return [flow.build(world, 0, j, START) for j in range(n)]


@pytest.mark.parametrize("flow", [MOBILE, WEB], ids=["mobile", "web"])
def test_journey_order_is_valid_in_every_session(flow) -> None:
    booked = 0
    for s in _sessions(flow):
        types = [e.record["event_type"] for e in s.events]
        assert types, "a session has at least one event"
        assert {e.record["user_id"] for e in s.events} == {s.user.user_id}
        assert {e.record["session_id"] for e in s.events} == {s.session_id}
        if flow is MOBILE:
            assert types[0] == "app_open" and types[-1] == "app_close"
        else:
            assert types[0] == "page_view" and s.events[0].record["page"] == "/"
        for i, e in enumerate(s.events):
            rec = e.record
            if rec["event_type"] == "booking_created":
                booked += 1
                before = s.events[:i]
                assert any(b.record["event_type"] == "search" for b in before), "no booking before a search"
                assert any(b.record["event_type"] == "booking_view" and b.record["hotel_id"] == rec["hotel_id"]
                           for b in before), "the booked hotel was viewed"
                nxt = s.events[i + 1].record
                assert nxt["event_type"] == "payment_submitted" and nxt["booking_id"] == rec["booking_id"]
                assert e.action and e.action[0] == "booking" and e.action[1].booking_id == rec["booking_id"]
                assert e.action[1].session_id == s.session_id and e.action[1].user_id == s.user.user_id
                if "signup" in types:
                    assert types.index("signup") < i, "a new user signs up before booking"
    assert booked > 5, "the flows convert sometimes"


def test_clickstream_and_logs_join_the_journeys_on_session_and_user() -> None:
    world = World(seed=9, users=200)
    ctx = SourceContext(world=world, extras={"start_ms": START})
    mobile_sessions = {s.session_id: s.user.user_id for s in _sessions_of(world, MOBILE, 200)}
    web_sessions = {s.session_id: s.user.user_id for s in _sessions_of(world, WEB, 200)}
    known = mobile_sessions | web_sessions
    clicks = REGISTRY["clickstream"](ctx).generate(list(range(START, START + 2000)))
    assert all(rec["session_id"] in known for _, rec in clicks)
    assert all(rec["user_id"] in (None, known[rec["session_id"]]) for _, rec in clicks)
    assert any(rec["user_id"] is None for _, rec in clicks) and any(rec["user_id"] for _, rec in clicks)
    logs = REGISTRY["app_logs"](ctx).generate(list(range(START, START + 2000)))
    with_session = [rec for _, rec in logs if rec["session_id"]]
    assert with_session and all(known[rec["session_id"]] == rec["user_id"] for rec in with_session)


def _sessions_of(world: World, flow, n: int) -> list[Session]:
    return [flow.build(world, 0, j, START) for j in range(n)]


def test_lifecycle_plan_is_a_pure_function_and_obeys_the_state_machines() -> None:
    outcomes = set()
    for i in range(500):
        plan = plan_for(f"bk-{i:016x}")
        assert plan == plan_for(f"bk-{i:016x}")
        outcomes.add(plan.outcome)
        booking, payment = "pending", "authorized"
        for step in plan.steps:
            (b0, b1), (p0, p1) = OPERATIONS[step.op]
            assert (booking, payment) == (b0, p0)
            assert legal(BOOKING_MOVES, booking, b1) and legal(PAYMENT_MOVES, payment, p1)
            booking, payment = b1, p1
        assert booking in ("cancelled", "completed")
    assert outcomes == {"completed", "cancelled_after_confirm", "cancelled_pending", "payment_failed"}
    plan = plan_for("bk-resume")
    if plan.outcome == "completed":
        assert [s.op for s in remaining_steps(plan, "confirmed", "captured")] == ["complete"]
    assert remaining_steps(plan, "completed", "captured") == ()


def test_memory_store_refuses_a_refund_before_capture() -> None:
    world = World(seed=1, users=5)
    store = MemoryStore()
    store.ensure_users(world.users)
    journey_booking = next(e.action[1] for s in _sessions_of(World(seed=1, users=5), MOBILE, 400)
                           for e in s.events if e.action and e.action[0] == "booking")
    assert store.create_booking(journey_booking)
    assert not store.create_booking(journey_booking)  # a replay does not create it twice
    assert not store.apply("cancel_confirmed", journey_booking.booking_id, journey_booking.payment_id)
    assert store.payments[journey_booking.payment_id][1] == "authorized"
    assert store.apply("confirm", journey_booking.booking_id, journey_booking.payment_id)
    assert store.apply("cancel_confirmed", journey_booking.booking_id, journey_booking.payment_id)
    assert store.payments[journey_booking.payment_id][1] == "refunded"
    assert not store.apply("complete", journey_booking.booking_id, journey_booking.payment_id)
    with pytest.raises(IllegalTransitionError):
        store._move("payments", "p", "authorized", "refunded", PAYMENT_MOVES)


def test_oltp_workload_transitions_are_legal_and_journey_bookings_land_in_the_store() -> None:
    store = MemoryStore()
    report = Runner(load_scenario("default", [
        "seed=21", "speed=max", "count=6000", "sink=discard", "sources.oltp.options.store=memory",
        "sources.oltp.options.finish=drain", "sources.oltp.options.lifecycle_time_scale=0.001",
        "sources.oltp.rate=20"]), store=store).run()
    assert report["errors"] == []
    mobile, oltp = report["sources"]["mobile"], report["sources"]["oltp"]
    assert mobile["bookings"] > 0 and oltp["bookings"] >= mobile["bookings"] + report["sources"]["web"]["bookings"]
    assert oltp["transitions"] > 0 and oltp["scheduled"] == 0  # drained: every booking reached its end
    seen: dict[tuple[str, str], list[str]] = {}
    for table, key, before, after in store.history:
        steps = seen.setdefault((table, key), [])
        assert (steps[-1] if steps else None) == before, f"{table} {key}: {before}->{after} after {steps}"
        steps.append(after)
    payments = [s for (t, _), s in seen.items() if t == "payments"]
    assert any("refunded" in s for s in payments)
    assert all(s.index("captured") < s.index("refunded") for s in payments if "refunded" in s)
    assert all(s[-1] in ("cancelled", "completed") for (t, _), s in seen.items() if t == "bookings")
    assert oltp["signups"] > 0 and oltp["profile_updates"] > 0
