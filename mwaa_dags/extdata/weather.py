"""Weather: Open-Meteo hourly values per destination → per-city metrics and a travel-weather score.

Where the values come from depends on the interval's age: the forecast API serves about 92 days back
(``/v1/forecast``, model values: labelled ``value_type=forecast``); older intervals come from the archive
(``/v1/archive``, ERA5 reanalysis: ``value_type=reanalysis``). If the forecast API still refuses the dates
("out of allowed range", e.g. a clock at the window's edge) the archive is asked instead.

    >>> travel_weather_score(temp_c=24, rain_mm=0, wind_kmh=10)
    100.0
    >>> travel_weather_score(temp_c=33, rain_mm=6, wind_kmh=35) < 40
    True
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from extdata.destinations import Destination
from extdata.exceptions import HTTPStatusError, SourceError
from extdata.http import Fetcher
from extdata.records import Interval, make_record
from extdata.settings import DagSettings

SOURCE = "weather"
VARIABLES = ("temperature_2m", "relative_humidity_2m", "precipitation", "cloud_cover", "wind_speed_10m")
HOURLY = ",".join(VARIABLES)
log = logging.getLogger("extdata.weather")


def travel_weather_score(temp_c: float, rain_mm: float, wind_kmh: float) -> float:
    """0-100: 100 is dry, 20-26 °C, light wind. Loses 4/°C outside that band, 8/mm of rain, 1.5/km/h over 20."""
    off = max(0.0, 20 - temp_c, temp_c - 26)
    score = 100 - 4 * off - 8 * rain_mm - 1.5 * max(0.0, wind_kmh - 20)
    return round(min(100.0, max(0.0, score)), 1)


def fetch(dest: Destination, interval: Interval, fetcher: Fetcher, settings: DagSettings,
          now: datetime | None = None) -> Any:
    """The raw answer, with ``_source: {api, value_type}`` added so the landed object says what it is."""
    last = interval.end - timedelta(microseconds=1)
    params = {"latitude": dest.lat, "longitude": dest.lon, "hourly": HOURLY, "timezone": "GMT",
              "start_date": interval.start.date().isoformat(), "end_date": last.date().isoformat()}
    age = ((now or datetime.now(UTC)).date() - interval.start.date()).days
    if age <= settings.weather_forecast_past_days:
        try:
            body = fetcher.get_json(SOURCE, settings.url(settings.weather_url, "/v1/forecast"), params)
            return {**body, "_source": {"api": "open-meteo /v1/forecast", "value_type": "forecast"}}
        except HTTPStatusError as exc:
            if exc.status != 400 or "out of allowed range" not in exc.body:
                raise
    body = fetcher.get_json(SOURCE, settings.url(settings.weather_archive_url, "/v1/archive"), params)
    return {**body, "_source": {"api": "open-meteo /v1/archive", "value_type": "reanalysis"}}


def to_record(dest: Destination, body: Any, interval: Interval, run_id: str | None) -> dict[str, Any]:
    """The interval's hours of the forecast, summarised (raises SourceError naming the city if malformed)."""
    try:
        hourly = body["hourly"]
        rows = [
            {k: hourly[k][i] for k in hourly}
            for i, t in enumerate(hourly["time"])
            if interval.start <= datetime.fromisoformat(t).replace(tzinfo=UTC) < interval.end
        ]
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise SourceError(SOURCE, f"{dest.name}: unexpected forecast shape ({exc!r})") from None
    if not rows:
        raise SourceError(SOURCE, f"{dest.name}: no hourly values inside {interval.tag}")
    if missing := [v for v in VARIABLES if v not in hourly]:
        raise SourceError(SOURCE, f"{dest.name}: the answer has no hourly {', '.join(missing)} (asked for {HOURLY})")
    values = {v: _present(dest, interval, v, [r.get(v) for r in rows]) for v in VARIABLES}
    temps, rain_h, wind_h = values["temperature_2m"], values["precipitation"], values["wind_speed_10m"]
    rain, wind, mean_t = sum(rain_h), max(wind_h), sum(temps) / len(temps)
    rain_per_h = rain / len(rain_h)
    metrics = {
        "temp_c_mean": round(mean_t, 2), "temp_c_min": min(temps), "temp_c_max": max(temps),
        "rain_mm": round(rain, 1), "wind_kmh_max": wind,
        "humidity_pct_mean": round(_mean(values["relative_humidity_2m"]), 1),
        "cloud_pct_mean": round(_mean(values["cloud_cover"]), 1),
        "hours": len(rows),
        "travel_weather_score": travel_weather_score(mean_t, rain_per_h * 6, wind),
    }
    # Hours Open-Meteo answered null for: the metrics above are over the other hours; say which (rain_mm is
    # the sum of the hours that have a value).
    gaps = {v: len(rows) - len(vals) for v, vals in values.items() if len(vals) < len(rows)}
    if gaps:
        log.warning("weather %s %s: null hours %s of %d — metrics are over the hours with a value",
                    dest.name, interval.tag, gaps, len(rows))
    origin = body.get("_source") or {"api": "open-meteo /v1/forecast", "value_type": "forecast"}
    attributes = {"name": dest.name, "region": dest.region, "lat": str(dest.lat), "lon": str(dest.lon),
                  "api": origin["api"], "value_type": origin["value_type"]}
    if gaps:
        attributes["null_hours"] = ",".join(f"{v}={n}" for v, n in sorted(gaps.items()))
    return make_record(SOURCE, dest.code, interval, metrics=metrics, attributes=attributes, run_id=run_id)


def _present(dest: Destination, interval: Interval, variable: str, hourly: list[Any]) -> list[float]:
    """The hours' values that are there. Open-Meteo answers ``null`` for hours its model does not hold (e.g. older
    days of the forecast API, open-meteo/open-meteo#972 #1806); none at all is an error, never a 0."""
    present = [v for v in hourly if v is not None]
    bad = [v for v in present if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad:
        raise SourceError(SOURCE, f"{dest.name}: {variable} has non-numeric values {bad[:3]!r} in {interval.tag}")
    if not present:
        raise SourceError(SOURCE, f"{dest.name}: Open-Meteo answered null for {variable} in every hour of "
                                  f"{interval.tag} (no model data for those hours) — nothing published for this "
                                  "interval; rerun it later, or lower EB_DAGS_WEATHER_FORECAST_PAST_DAYS so "
                                  "intervals this old are read from the archive")
    return [float(v) for v in present]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
