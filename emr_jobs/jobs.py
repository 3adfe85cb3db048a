"""The job names and the queries each starts (importable without pyspark: the submit command uses it)."""

from __future__ import annotations

#: job -> the streaming queries it starts (their names are the progress files the console reads)
QUERIES: dict[str, tuple[str, ...]] = {
    "app_events": ("app_events",),    # windows and funnel: one read, one decode, one aggregation
    "clickstream": ("clickstream",),  # page/element counts and heat-map: likewise
    "booking_state": ("cdc_booking_state",),
    "user_state": ("user_state",),
    "lake": ("lake",),
}
JOB_NAMES = tuple(QUERIES)
