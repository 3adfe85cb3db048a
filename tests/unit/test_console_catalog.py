"""The console's lists come from the catalog (schemas/topics.yaml); where SQL must name tables, it agrees with
the catalog's CDC publication and with schemas/sql/oltp.sql."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from eventbus.catalog import load_catalog, parse_catalog
from eventbus.settings import Settings
from local.console.follow import KINDS, _summary, summary_fields, timeline_topics
from local.console.pg import ROW_QUERIES
from local.console.topics import catalog_topics

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(Settings())


def _oltp_tables() -> dict[str, set[str]]:
    """table -> its columns, from the CREATE TABLE statements of oltp.sql."""
    sql = (REPO / "schemas" / "sql" / "oltp.sql").read_text()
    out = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", sql, re.S):
        out[name] = {line.split()[0] for line in body.splitlines() if re.match(r"\s+[a-z_]+\s+\w", line)}
    return out


def test_the_topics_page_lists_the_catalogs_console_readers_in_catalog_order() -> None:
    expected = [t.name for t in CATALOG if "console" in t.readers]
    assert catalog_topics(CATALOG) == expected and "topic_app_events" in expected


def test_a_new_catalog_topic_reaches_the_console_lists_with_no_console_edit(tmp_path: Path) -> None:
    for f in (REPO / "schemas").glob("*.avsc"):
        shutil.copy(f, tmp_path)
    raw = yaml.safe_load((REPO / "schemas" / "topics.yaml").read_text())
    raw["topics"]["topic_hotel_reviews"] = {**raw["topics"]["topic_clickstream"], "writers": ["simulators"],
                                            "readers": ["console"]}
    raw["topics"]["topic_private"] = {**raw["topics"]["topic_clickstream"], "readers": ["spark"]}
    (tmp_path / "topics.yaml").write_text(yaml.safe_dump(raw))
    catalog = parse_catalog(tmp_path / "topics.yaml")
    assert "topic_hotel_reviews" in catalog_topics(catalog) and "topic_private" not in catalog_topics(catalog)
    assert "topic_hotel_reviews" in timeline_topics(catalog)  # it carries user_id / session_id


def test_timelines_read_the_topics_carrying_an_entity_id_and_the_cdc_topic() -> None:
    topics = timeline_topics(CATALOG)
    assert set(topics) <= set(catalog_topics(CATALOG))
    for name in catalog_topics(CATALOG):
        spec = CATALOG.get(name)
        fields = {f["name"] for f in spec.schema["fields"]}
        assert (name in topics) == bool(spec.publication or fields & set(KINDS)), name
    # the five the console followed when the list was kept by hand are still followed
    assert {"topic_app_events", "topic_clickstream", "topic_cdc_changes", "topic_user_state",
            "topic_booking_state"} <= set(topics)


def test_summaries_are_derived_from_the_schema() -> None:
    app = CATALOG.get("topic_app_events")
    assert summary_fields(app) == ["event_type", "platform"]  # the schema's enums
    assert _summary(app, {"event_type": "booking_created", "platform": "ios"}) == \
        "app events event_type=booking_created platform=ios"
    state = CATALOG.get("topic_booking_state")
    assert _summary(state, {"status": "confirmed", "payment_status": None}) == "booking state status=confirmed"
    cdc = CATALOG.get("topic_cdc_changes")
    assert _summary(cdc, {"op": "u", "source": {"table": "bookings"}, "after": {"status": "confirmed"}}) == \
        "CDC u bookings confirmed"
    assert _summary(state, None) == "tombstone (state deleted)"


def test_row_queries_name_the_publications_tables_and_oltp_columns() -> None:
    (publication,) = [t.publication for t in CATALOG if t.publication]
    published = {t.split(".")[-1] for t in publication.tables}
    oltp = _oltp_tables()
    assert published <= set(oltp), f"publication tables missing from oltp.sql: {published - set(oltp)}"
    queried = {table for queries in ROW_QUERIES.values() for table, _sql in queries}
    assert queried == published, "pg.ROW_QUERIES and the catalog's publication disagree"
    assert set(ROW_QUERIES) == set(KINDS)
    for kind, queries in ROW_QUERIES.items():
        for table, sql in queries:
            named = set(re.findall(r"(?:FROM|JOIN)\s+(\w+)", sql))
            assert table in named and named <= published, sql
            for alias_col in re.findall(r"\b(?:[a-z]\.)?(\w+) = %s", sql):
                assert any(alias_col in oltp[t] for t in named), f"{alias_col} is no column of {named}: {sql}"
            assert kind in {c for t in named for c in oltp[t]}, sql
