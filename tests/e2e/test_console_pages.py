"""The console in headless Chromium: every page loads clean, records show decoded, a booking is followed."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import psycopg2
import pytest

from eventbus.kafka.producer import Producer
from eventbus.serde import AvroSerde
from eventbus.settings import Settings, get_settings
from local.stack.health import wait_until
from tests.e2e.conftest import ConsolePage, free_port, served_console

CANVAS_HAS_PIXELS = """(id) => {
  const chart = window.consoleCharts[id];
  if (!chart) return false;
  const c = chart.canvas, data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  return false;
}"""


@pytest.mark.parametrize("page", ["topics", "messages", "lag", "sources", "follow"])
def test_each_page_loads_without_console_errors(console: ConsolePage, page: str) -> None:
    tab = console.open(page)
    assert not tab.is_visible("#error"), tab.inner_text("#error")
    assert tab.locator("main h2").inner_text() != ""
    assert console.errors == []


def test_the_charts_render(console: ConsolePage) -> None:
    tab = console.open("topics")
    # The in-rate line needs two end-offset samples (the console samples every second here).
    tab.wait_for_function("window.consoleCharts.rates && window.consoleCharts.rates.data.labels.length >= 1",
                          timeout=20_000)
    assert tab.evaluate(CANVAS_HAS_PIXELS, "rates")
    datasets = tab.evaluate("window.consoleCharts.rates.data.datasets.map(d => d.label)")
    assert "topic_app_events" in datasets and "topic_cdc_changes" in datasets
    tab = console.open("sources")
    assert tab.evaluate(CANVAS_HAS_PIXELS, "gateway-chart")
    # A scrape reads one gateway worker's counters; right after local-up the worker that answers may not
    # have served the simulators yet, so wait for a refresh (every 5 s) that shows responses.
    tab.wait_for_function("(window.consoleCharts['gateway-chart']?.data.labels.length ?? 0) >= 1",
                          timeout=60_000)
    assert console.errors == []


def test_a_record_produced_by_the_test_appears_decoded(console: ConsolePage) -> None:
    settings = get_settings()
    user = f"u-e2e-{uuid.uuid4().hex[:10]}"
    now = int(time.time() * 1000)
    event = {"event_id": str(uuid.uuid4()), "event_type": "search", "event_ts": now, "received_ts": now,
             "user_id": user, "session_id": f"s-{user}", "platform": "web", "destination": "Hoi An",
             "properties": {"query": "e2e"}}
    producer = Producer(settings, client_id="t-console-e2e")
    producer.produce("topic_app_events", AvroSerde(settings).encode("topic_app_events", event), key=user)
    producer.flush()
    tab = console.open(f"messages?topic=topic_app_events&key={user}")
    row = tab.locator("tr.msg")
    assert row.count() == 1
    text = row.inner_text()
    assert event["event_id"] in text and '"destination": "Hoi An"' in text and user in text
    assert "v1" in text or "v2" in text  # the registry's schema version
    assert console.errors == []


def _gateway_booking_event(settings: Settings, user: str, booking: str) -> None:
    key = settings.gateway_api_keys.get_secret_value().split(",")[0]
    body = {"event_type": "booking_created", "event_ts": int(time.time() * 1000), "user_id": user,
            "session_id": f"s-{user}", "platform": "android", "booking_id": booking, "hotel_id": "htl-e2e",
            "amount": 1_250_000.0, "currency": "VND", "page": "checkout", "destination": "Da Lat"}
    resp = httpx.post(settings.gateway_url + "/events/booking", json=body, headers={"x-api-key": key}, timeout=10)
    assert resp.status_code == 200, resp.text


def _sql(settings: Settings, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    with psycopg2.connect(settings.pg_dsn()) as conn, conn.cursor() as cur:
        for sql, params in statements:
            cur.execute(sql, params)
    conn.close()


def test_following_a_booking_shows_its_event_cdc_changes_and_row_in_order(console: ConsolePage,
                                                                           console_url: str) -> None:
    settings = get_settings()
    tag = uuid.uuid4().hex[:10]
    user, booking = f"u-e2e-{tag}", f"bk-e2e-{tag}"
    _gateway_booking_event(settings, user, booking)  # 1. the app event, through the gateway
    _sql(settings, [  # 2. the booking row (the real CDC relay emits c, then u)
        ("INSERT INTO users (user_id, email, full_name, home_city) VALUES (%s, %s, 'E2E Tester', 'Hue')",
         (user, f"{tag}@e2e.example")),
        ("INSERT INTO bookings (booking_id, user_id, session_id, hotel_id, destination, check_in, check_out, guests,"
         " amount) VALUES (%s, %s, %s, 'htl-e2e', 'Da Lat', '2027-01-10', '2027-01-12', 2, 1250000)",
         (booking, user, f"s-{user}")),
    ])
    _sql(settings, [("UPDATE bookings SET status = 'confirmed' WHERE booking_id = %s", (booking,))])

    def cdc_arrived() -> bool:
        body = httpx.get(f"{console_url}/api/follow", params={"kind": "booking_id", "id": booking}, timeout=15).json()
        return sum(e["source"] == "topic_cdc_changes" for e in body["entries"]) >= 2

    wait_until(cdc_arrived, 30, f"CDC changes of {booking} in topic_cdc_changes")
    tab = console.open(f"follow?kind=booking_id&id={booking}")
    entries = tab.locator("tr.entry")
    sources = [entries.nth(i).get_attribute("data-source") for i in range(entries.count())]
    texts = [entries.nth(i).inner_text() for i in range(entries.count())]
    oldest_first = list(reversed(sources))
    assert oldest_first[0] == "topic_app_events" and "booking_created" in texts[-1]
    cdc = [t for s, t in zip(sources, texts, strict=True) if s == "topic_cdc_changes"]
    assert [("CDC c" in t, "CDC u" in t) for t in reversed(cdc)] == [(True, False), (False, True)]
    assert oldest_first.index("topic_cdc_changes") > 0
    rows = [s for s in sources if s.startswith("postgres.")]
    assert "postgres.bookings" in rows and sources[: len(rows)] == rows  # the rows as they are now: newest
    assert "confirmed" in texts[sources.index("postgres.bookings")]
    assert console.errors == []


def test_bad_input_shows_a_clear_message_on_the_page(console: ConsolePage) -> None:
    tab = console.open("messages?topic=topic_app_events&key=/[unclosed/")
    assert "malformed key filter" in tab.inner_text("#error")
    tab = console.open("messages?topic=topic_nope")
    assert "unknown topic 'topic_nope'" in tab.inner_text("#error")
    tab = console.open("follow?kind=booking_id&id=bad%20id")
    assert "malformed booking_id" in tab.inner_text("#error")
    # The browser logs the 4xx answers themselves; nothing else (no uncaught exception).
    assert [e for e in console.errors if "status of 4" not in e] == []


def test_an_unreachable_broker_is_a_message_on_the_page(browser: Any, tmp_path: Any) -> None:
    with served_console(tmp_path / "console.log", EB_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
                        EB_CONSOLE_TIMEOUT_S="2") as url:
        context = browser.new_context()
        try:
            console = ConsolePage(context.new_page(), url)
            for page in ("topics", "messages?topic=topic_app_events", "follow?kind=user_id&id=u-1"):
                t0 = time.monotonic()
                tab = console.open(page)
                text = tab.inner_text("#error")
                assert "unreachable" in text and "make local-up" in text, (page, text)
                assert time.monotonic() - t0 < 20  # EB_CONSOLE_TIMEOUT_S=2 bounds the server side
        finally:
            context.close()
