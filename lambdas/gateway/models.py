"""Request and response models. ``AppEventIn`` is ``schemas/app_event.avsc`` seen from a client.

The enums are read from the Avro schema itself, and ``tests/unit/test_gateway_models.py`` maps every
model field onto the schema (type and optionality), so the two cannot drift. Fields the server sets
(``received_ts``, ``client_ip``, ``user_agent``) are not in the request model; ``event_id`` is
optional here (the gateway assigns a UUID4) although it is required in the record::

    >>> ev = AppEventIn.model_validate_json(b'{"event_type": "search", "event_ts": 1735689600000, '
    ...     b'"user_id": "u-1", "session_id": "s-1", "platform": "ios"}')
    >>> to_record(ev, event_id="e-1", received_ts=1735689600123, client_ip=None, user_agent=None)["page"]
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from eventbus.settings import REPO_ROOT

SCHEMA_FILE = REPO_ROOT / "schemas" / "app_event.avsc"
AVRO_SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())


def _symbols(field: str) -> tuple[str, ...]:
    for f in AVRO_SCHEMA["fields"]:
        if f["name"] == field:
            return tuple(f["type"]["symbols"])
    raise KeyError(field)


EVENT_TYPES = _symbols("event_type")
PLATFORMS = _symbols("platform")
#: Accepted by POST /events/booking.
BOOKING_EVENT_TYPES = (*(s for s in EVENT_TYPES if s.startswith("booking_")), "payment_submitted")
#: Events that change a booking: meaningless without ``booking_id`` on any route.
BOOKING_ID_REQUIRED = frozenset({"booking_created", "booking_confirmed", "booking_cancelled", "payment_submitted"})
#: Record fields that only the gateway sets.
SERVER_FIELDS = ("received_ts", "client_ip", "user_agent")

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
BookingEventType = Literal[BOOKING_EVENT_TYPES]  # type: ignore[valid-type]
Platform = Literal[PLATFORMS]  # type: ignore[valid-type]

#: Accepted client timestamps: [2000-01-01, 2100-01-01) in epoch milliseconds. Anything else is most
#: likely seconds or microseconds sent by mistake.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Field-level strictness: the same result whether the body was parsed by pydantic (single routes) or
# by pydantic-core first (batch, parsing.batch_events) — no number-to-string or string-to-number coercion.
Id = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=128)]
Text = Annotated[str, StringConstraints(strict=True, max_length=256)]
Currency = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z]{3}$")]
Amount = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-1e12, le=1e12)]
PropKey = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=128)]
PropValue = Annotated[str, StringConstraints(strict=True, max_length=2048)]
Timestamp = Annotated[
    int,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": MIN_TS_MS, "maximum": MAX_TS_MS - 1},
                {"type": "string", "format": "date-time"},
            ],
            "description": "Epoch milliseconds, or an ISO-8601 timestamp with a UTC offset.",
        }
    ),
]


def parse_ts(value: Any) -> int:
    """Epoch millis from an int or an ISO-8601 string with offset; errors say what was wrong."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError(
            "event_ts_type",
            "must be epoch milliseconds (integer) or an ISO-8601 string such as 2025-01-31T12:00:00Z, "
            "got {kind}",
            {"kind": type(value).__name__},
        )
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "event_ts_format", "is not an ISO-8601 timestamp: '{value}'", {"value": value[:64]}
            ) from None
        if dt.tzinfo is None:
            raise PydanticCustomError(
                "event_ts_naive", "needs a UTC offset (e.g. 2025-01-31T12:00:00Z), got '{value}'", {"value": value}
            )
        try:
            value = (dt - _EPOCH) // timedelta(milliseconds=1)
        except OverflowError:
            value = -1
    if not MIN_TS_MS <= value < MAX_TS_MS:
        raise PydanticCustomError(
            "event_ts_range",
            "{value} is outside 2000-01-01..2100-01-01 in epoch milliseconds{hint}",
            {"value": value, "hint": " (sent seconds?)" if 0 < value < MIN_TS_MS else ""},
        )
    return int(value)


class AppEventIn(BaseModel):
    """One application event as a client posts it (Avro field names)."""

    model_config = ConfigDict(extra="forbid", title="AppEvent")

    event_id: Id | None = Field(None, description="Optional; the gateway assigns a UUID4 when absent.")
    event_type: EventType
    event_ts: Timestamp = Field(description="When the event happened on the client.")
    user_id: Id = Field(description="Partition key of topic_app_events.")
    session_id: Id
    platform: Platform
    device_id: Text | None = None
    app_version: Text | None = None
    locale: Text | None = None
    page: Text | None = Field(None, description="Screen or page name.")
    destination: Text | None = Field(None, description="Destination city, e.g. Da Nang.")
    hotel_id: Text | None = None
    booking_id: Id | None = Field(
        None, description="Required for booking_created, booking_confirmed, booking_cancelled, payment_submitted."
    )
    amount: Amount | None = None
    currency: Currency | None = Field(None, description="ISO 4217 code, e.g. VND.")
    properties: dict[PropKey, PropValue] = Field(default_factory=dict, max_length=64)

    @field_validator("event_ts", mode="before")
    @classmethod
    def _event_ts(cls, value: Any) -> int:
        return parse_ts(value)

    @model_validator(mode="after")
    def _booking_id_for_booking_changes(self) -> AppEventIn:
        if self.booking_id is None and self.event_type in BOOKING_ID_REQUIRED:
            raise PydanticCustomError(
                "booking_id_required", "booking_id is required for event_type {t}", {"t": self.event_type}
            )
        return self


class BookingEventIn(AppEventIn):
    """A booking event: a booking_* or payment_submitted type and a booking_id."""

    model_config = ConfigDict(title="BookingEvent")

    event_type: BookingEventType
    booking_id: Id = Field(description="The booking this event belongs to.")


class BatchIn(BaseModel):
    """Up to ``max_batch_events`` mixed user/booking events (documentation model; validated per event)."""

    events: list[AppEventIn] = Field(min_length=1, max_length=500)


def to_record(
    event: AppEventIn, *, event_id: str, received_ts: int, client_ip: str | None, user_agent: str | None
) -> dict[str, Any]:
    """The Avro record of ``event`` with the server-side fields."""
    return {
        "event_id": event_id,
        "event_type": event.event_type,
        "event_ts": event.event_ts,
        "received_ts": received_ts,
        "user_id": event.user_id,
        "session_id": event.session_id,
        "platform": event.platform,
        "device_id": event.device_id,
        "app_version": event.app_version,
        "locale": event.locale,
        "page": event.page,
        "destination": event.destination,
        "hotel_id": event.hotel_id,
        "booking_id": event.booking_id,
        "amount": event.amount,
        "currency": event.currency,
        "client_ip": client_ip,
        "user_agent": user_agent,
        "properties": event.properties,
    }


# --- responses (documentation; the routes write the same shapes with orjson) ---------------------
class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    event_id: str
    topic: str
    partition: int
    offset: int
    request_id: str


class FieldProblem(BaseModel):
    field: str
    problem: str


class Problem(BaseModel):
    """Every 4xx/5xx body. 503s carry ``event_id``(s) and ``possibly_persisted``."""

    error: str
    message: str
    request_id: str
    problems: list[FieldProblem] | None = None
    event_id: str | None = None
    possibly_persisted: bool | None = None


class EventResult(BaseModel):
    index: int
    status: Literal["accepted", "rejected", "failed"]
    event_id: str | None = None
    reason: str | None = None
    partition: int | None = None
    offset: int | None = None
    possibly_persisted: bool | None = None


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    failed: int
    request_id: str
    results: list[EventResult]


#: A batch after validation: per item a model, or the result of a rejected event.
Validated = list[AppEventIn | dict[str, Any]]
