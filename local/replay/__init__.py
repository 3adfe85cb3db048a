"""Replay server for recorded external API responses (Open-Meteo, Nominatim, Overpass, Bluesky,
Frankfurter, HN Algolia) on 127.0.0.1:8090 — the DAGs' external APIs in the local stack and tests."""
