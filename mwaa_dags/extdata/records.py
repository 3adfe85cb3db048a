"""ExternalData records, raw-zone landing and publishing — idempotent per data interval.

Record ids and object keys are derived from (source, entity, interval) only, so a rerun of an interval
writes the same ids and replaces the same objects (``land`` also deletes what an earlier attempt left under
the interval's prefix). The topic is ``delete``-policy: a rerun or a retried flush publishes a record again,
so **a consumer keeps one record per ``record_id``** (the one with the latest ``fetched_ts``) — ``latest``
below is that rule; the Spark lake keeps the first copy of a ``record_id`` within its watermark
(mwaa_dags/README.md, "Idempotent per interval, end to end")::

    >>> iv = Interval.parse("2026-01-15T00:00:00+00:00", "2026-01-15T06:00:00+00:00")
    >>> record_id("weather", "dad", iv) == record_id("weather", "dad", iv)
    True
    >>> raw_key("raw/external", "weather", iv, "dad")
    'raw/external/weather/dt=2026-01-15/interval=20260115T0000Z_20260115T0600Z/dad.json'
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TOPIC = "topic_external_data"
#: Fixed namespace: ids must not change between runs, machines or releases.
ID_NAMESPACE = uuid.UUID("6f1c2a52-9c57-4c57-9d0e-2f1b7e7c0a11")


@dataclass(frozen=True)
class Interval:
    """A DAG run's data interval, in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str | datetime, end: str | datetime) -> Interval:
        def utc(v: str | datetime) -> datetime:
            d = datetime.fromisoformat(v) if isinstance(v, str) else v
            return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)

        return cls(utc(start), utc(end))

    @property
    def tag(self) -> str:
        return f"{self.start:%Y%m%dT%H%MZ}_{self.end:%Y%m%dT%H%MZ}"

    def placeholders(self) -> dict[str, str]:
        """What a source config may use in params/paths: ``{start_ts}``, ``{end_date}``, ..."""
        out: dict[str, str] = {}
        for name, d in (("start", self.start), ("end", self.end)):
            out[f"{name}_ts"] = str(int(d.timestamp()))
            out[f"{name}_iso"] = d.strftime("%Y-%m-%dT%H:%M:%SZ")
            out[f"{name}_date"] = d.strftime("%Y-%m-%d")
        return out


def millis(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def record_id(source: str, entity: str, interval: Interval) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"{source}|{entity}|{interval.start.isoformat()}|{interval.end.isoformat()}"))


def interval_prefix(prefix: str, source: str, interval: Interval) -> str:
    return f"{prefix.strip('/')}/{source}/dt={interval.start:%Y-%m-%d}/interval={interval.tag}/"


def raw_key(prefix: str, source: str, interval: Interval, name: str) -> str:
    return f"{interval_prefix(prefix, source, interval)}{name}.json"


def latest(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The consumers' de-duplication rule: one record per ``record_id`` = (source, entity, interval), the
    latest ``fetched_ts`` winning. ``record_id`` already encodes the interval, so this is also "each
    (source, entity, interval) once"."""
    out: dict[str, Mapping[str, Any]] = {}
    for r in records:
        kept = out.get(r["record_id"])
        if kept is None or r["fetched_ts"] >= kept["fetched_ts"]:
            out[r["record_id"]] = r
    return list(out.values())


def make_record(
    source: str,
    entity: str,
    interval: Interval,
    *,
    observed: datetime | None = None,
    metrics: Mapping[str, float] | None = None,
    attributes: Mapping[str, str] | None = None,
    payload: Any = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """One ``ExternalData`` record (schemas/external_data.avsc)."""
    return {
        "record_id": record_id(source, entity, interval),
        "source": source,
        "entity": entity,
        "observed_ts": millis(observed or interval.start),
        "fetched_ts": int(time.time() * 1000),
        "data_interval_start": millis(interval.start),
        "data_interval_end": millis(interval.end),
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "attributes": {k: str(v) for k, v in (attributes or {}).items()},
        "payload_json": None if payload is None else json.dumps(payload, separators=(",", ":"), sort_keys=True),
        "run_id": run_id,
    }


# --- the lake's raw zone ----------------------------------------------------------------------
def land(objects: Mapping[str, Any], replace: Iterable[str] = ()) -> list[str]:
    """Write each ``{key: json-able}`` to the lake bucket, then delete every other object under the
    ``replace`` prefixes (an interval's): a rerun that fetched fewer pages leaves none of the earlier
    attempt's behind. New objects are written first, so a failure in between leaves too much, never too little."""
    from eventbus.aws import client
    from eventbus.settings import get_settings

    settings = get_settings()
    s3 = client("s3", settings)
    for key, body in objects.items():
        s3.put_object(Bucket=settings.lake_bucket, Key=key, ContentType="application/json",
                      Body=json.dumps(body, separators=(",", ":")).encode())
    prune(replace, keep=objects)
    return sorted(objects)


def prune(prefixes: Iterable[str], keep: Iterable[str]) -> list[str]:
    """Delete every object under ``prefixes`` that is not in ``keep`` (what an earlier attempt of the same
    interval left); returns the deleted keys."""
    from eventbus.aws import client
    from eventbus.settings import get_settings

    settings = get_settings()
    s3 = client("s3", settings)
    kept = set(keep)
    stale = [o["Key"] for prefix in prefixes
             for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket, Prefix=prefix)
             for o in page.get("Contents", []) if o["Key"] not in kept]
    for i in range(0, len(stale), 1000):  # DeleteObjects takes at most 1000 keys
        s3.delete_objects(Bucket=settings.lake_bucket,
                          Delete={"Objects": [{"Key": k} for k in stale[i:i + 1000]], "Quiet": True})
    return stale


def read_landed(keys: Iterable[str], missing_ok: bool = False) -> dict[str, Any]:
    """The landed objects by key. ``missing_ok``: leave out keys that are gone (a retried publish after the
    lake lost them — locally, an emulator restarted between extract and publish) so the caller re-fetches
    them rather than failing every retry the same way."""
    from botocore.exceptions import ClientError

    from eventbus.aws import client
    from eventbus.settings import get_settings

    settings = get_settings()
    s3 = client("s3", settings)
    out = {}
    for k in keys:
        try:
            out[k] = json.loads(s3.get_object(Bucket=settings.lake_bucket, Key=k)["Body"].read())
        except ClientError as exc:
            if not missing_ok or exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
    return out


# --- Kafka ------------------------------------------------------------------------------------
def publish(records: list[dict[str, Any]], client_id: str = "dags") -> int:
    """Validate every record first, then produce all, then flush — which raises if any was not acked."""
    from eventbus.kafka.producer import Producer
    from eventbus.serde import AvroSerde

    serde = AvroSerde()
    for rec in records:
        serde.validate(TOPIC, rec)
    encoded = [(f"{r['source']}:{r['entity']}", serde.encode(TOPIC, r)) for r in records]
    producer = Producer(client_id=client_id)
    try:
        for key, value in encoded:
            producer.produce(TOPIC, value, key=key)
    finally:
        producer.close()  # flushes; raises DeliveryError on any loss
    return len(encoded)
