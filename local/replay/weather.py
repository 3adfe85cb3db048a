"""Open-Meteo: ``/v1/forecast`` (93 days back to 15 ahead) and ``/v1/archive`` (reanalysis, 1940 up to two
days ago). A date outside an endpoint's window is a 400 with Open-Meteo's own reason text, e.g.
``Parameter 'start_date' is out of allowed range from 2025-08-08 to 2025-11-24`` (asked on 2025-11-09); an
hourly variable Open-Meteo does not have is a 400 too, never a 200 with nulls. Nulls come where the real API
sends them — for hours its model does not hold — here on a ``nulls`` fault (sources: local/replay/README.md).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from local.replay.base import Answer, Request, bad, recording, rng

#: ``start_date``/``end_date`` accepted by the forecast API: today-93 .. today+15. The upper bound is the
#: server's ``currentTime.with(hour: 0).add(days: forecastDaysMax)`` (exclusive; forecastDaysMax 16), printed
#: as that minus a day; open-meteo/open-meteo#1570 quotes "from 2025-08-08 to 2025-11-24" on 2025-11-09,
#: i.e. 93 days back (one more than ``past_days``' maximum of 92).
FORECAST_FIRST, FORECAST_LAST = 93, 15
#: The historical weather API: "data dating back to 1940 with a delay of 2 days"
#: (https://open-meteo.com/en/docs/historical-weather-api).
ARCHIVE_FIRST, ARCHIVE_LAG_DAYS = date(1940, 1, 1), 2
#: What each endpoint calls its hourly variables in the 400 for one it does not have: the forecast API
#: "Cannot initialize ForecastSurfaceVariable from invalid String value cape for key hourly"
#: (open-meteo/open-meteo#162), the archive "... WeatherVariable ..." (its docs' "Errors" section).
VARIABLE_TYPE = {"forecast": "ForecastSurfaceVariable", "archive": "WeatherVariable"}
#: Hourly variables both endpoints have (the historical weather API's list, shared by the forecast API) but
#: the replay does not generate: asked for, they get a 400 saying so — not the real API's 200, but never a
#: silent column of nulls.
NOT_RECORDED = frozenset({
    "dew_point_2m", "apparent_temperature", "pressure_msl", "surface_pressure", "rain", "snowfall",
    "cloud_cover_low", "cloud_cover_mid", "cloud_cover_high", "shortwave_radiation", "direct_radiation",
    "direct_normal_irradiance", "diffuse_radiation", "global_tilted_irradiance", "sunshine_duration",
    "wind_speed_100m", "wind_direction_10m", "wind_direction_100m", "wind_gusts_10m",
    "et0_fao_evapotranspiration", "weather_code", "vapour_pressure_deficit", "snow_depth",
})


def forecast(req: Request) -> Answer:
    first, last = req.today - timedelta(days=FORECAST_FIRST), req.today + timedelta(days=FORECAST_LAST)
    return _hourly(req, first, last, "forecast")


def archive(req: Request) -> Answer:
    return _hourly(req, ARCHIVE_FIRST, req.today - timedelta(days=ARCHIVE_LAG_DAYS), "archive")


def _hourly(req: Request, first: date, last: date, kind: str) -> Answer:
    q, rec = req.query, recording("open-meteo")
    try:
        lat, lon = float(q["latitude"]), float(q["longitude"])
    except (KeyError, ValueError):
        return bad("Parameter 'latitude' and 'longitude' must be numbers")
    try:
        start, end = date.fromisoformat(q["start_date"]), date.fromisoformat(q["end_date"])
    except KeyError as exc:
        return bad(f"Parameter '{exc.args[0]}' is required")
    except ValueError:
        return bad("Invalid date format. Make sure to use 'YYYY-MM-DD'")
    # as the real server: the date format when the query is decoded, then the variables, then the window
    wanted = [v for v in q.get("hourly", "temperature_2m").split(",") if v]
    recorded = set(rec["response"]["hourly_units"]) - {"time"}
    for v in wanted:
        if v in NOT_RECORDED:
            return bad(f"replay: hourly variable '{v}' exists on Open-Meteo but is not recorded here — "
                       "add it to local/replay/weather.py (weather_day)")
        if v not in recorded:
            return bad(f"Cannot initialize {VARIABLE_TYPE[kind]} from invalid String value {v} for key hourly")
    for name, day in (("start_date", start), ("end_date", end)):
        if not first <= day <= last:
            return bad(f"Parameter '{name}' is out of allowed range from {first} to {last}")
    if end < start:
        return bad("End-date must be larger or equals than start-date")
    climate = min(rec["climate"], key=lambda c: (c["lat"] - lat) ** 2 + (c["lon"] - lon) ** 2)
    hourly: dict[str, list[Any]] = {"time": [], **{v: [] for v in wanted}}
    nulls = req.null_variables  # a ``nulls`` fault: the model holds nothing for these hours
    day = start
    while day <= end:
        for hour, values in enumerate(weather_day(lat, lon, day, climate, kind)):
            hourly["time"].append(f"{day.isoformat()}T{hour:02d}:00")
            for v in wanted:
                hourly[v].append(None if nulls is not None and (not nulls or v in nulls) else values.get(v))
        day += timedelta(days=1)
    body = {"latitude": round(lat, 4), "longitude": round(lon, 4), **rec["response"],
            "elevation": float(climate["elevation"]),
            "hourly_units": {k: rec["response"]["hourly_units"].get(k, "") for k in ["time", *wanted]},
            "hourly": hourly}
    return Answer(200, body)


def weather_day(lat: float, lon: float, day: date, climate: dict[str, Any],
                kind: str = "forecast") -> list[dict[str, float]]:
    """24 plausible hours for (place, day); the archive's reanalysis differs a little from the model's."""
    r = rng("weather", round(lat, 2), round(lon, 2), day.isoformat())
    bias = rng("weather-kind", kind, round(lat, 2), day.isoformat()).gauss(0, 0.6) if kind == "archive" else 0.0
    doy = day.timetuple().tm_yday
    amplitude = 0.32 * abs(lat)  # the north has a real winter, the south barely
    seasonal = amplitude * math.cos(2 * math.pi * (doy - 196) / 365) * (1 if lat >= 0 else -1)
    day_mean = climate["mean_c"] + seasonal + r.gauss(0, 1.4) + bias
    rainy_season = day.month in climate["rainy_months"]
    rainy_day = r.random() < (0.62 if rainy_season else 0.14)
    storm_hours = set(r.sample(range(10, 20), k=r.randint(1, 4))) if rainy_day else set()
    wind_base = r.uniform(5, 14) + (6 if rainy_day else 0)
    out = []
    for utc_hour in range(24):
        local = (utc_hour + lon / 15) % 24
        temp = day_mean + 3.8 * math.cos(2 * math.pi * (local - 14) / 24) + r.gauss(0, 0.35)
        rain = round(r.expovariate(1 / 2.2), 1) if int(local) in storm_hours else 0.0
        out.append({
            "temperature_2m": round(temp - (1.5 if rain else 0), 1),
            "relative_humidity_2m": min(100, round(72 - 3.6 * (temp - day_mean) + (18 if rain else 0)
                                                   + r.gauss(0, 4))),
            "precipitation": rain,
            "cloud_cover": min(100, max(0, round((85 if rainy_day else 30) + r.gauss(0, 15)))),
            "wind_speed_10m": round(max(0.0, wind_base + 3 * math.sin(2 * math.pi * local / 24) + r.gauss(0, 2)
                                        + (12 if rain else 0)), 1),
        })
    return out
