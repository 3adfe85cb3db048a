"""Adding a source is three files — its class, its schema, its catalog line — and nothing else.

The three are written to a temporary folder (the catalog and its schemas are copied there, so the
repository's files stay as they are); the simulators find the class through ``EB_SIMULATORS_SOURCE_DIRS``
and the catalog through ``EB_CATALOG_PATH``, and the records reach Kafka, Avro-encoded and registered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from eventbus.kafka.admin import apply_topics
from eventbus.kafka.reader import end_offsets, read_range
from eventbus.settings import REPO_ROOT, Settings
from tests.support.harness import delete_topics

SOURCE = '''
"""A throw-away source: one heartbeat per service and tick."""

from lambdas.simulators.sources.base import Keyed, Source

SERVICES = ("search-api", "booking-api", "payment-svc")


class Heartbeat(Source):
    name = "heartbeat"
    topic = "{topic}"

    def generate(self, timestamps: list[int]) -> list[Keyed]:
        out = []
        for ts in timestamps:
            service = self.rng.choice(SERVICES)
            out.append((service, {{"heartbeat_id": f"{{self.stream}}-{{ts}}-{{len(out)}}", "service": service,
                                  "ts": ts, "healthy": self.rng.random() < 0.9}}))
        return out
'''

SCHEMA = {
    "type": "record", "name": "Heartbeat", "namespace": "com.travel.events",
    "fields": [
        {"name": "heartbeat_id", "type": "string"},
        {"name": "service", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "healthy", "type": "boolean"},
    ],
}


def test_a_source_added_from_a_temporary_folder_runs_end_to_end_into_kafka(tmp_path: Path) -> None:
    topic = f"t_sim_heartbeat_{uuid.uuid4().hex[:8]}"
    schemas = tmp_path / "schemas"
    shutil.copytree(REPO_ROOT / "schemas", schemas)
    # 1. the schema
    (schemas / "heartbeat.avsc").write_text(json.dumps(SCHEMA, indent=2))
    # 2. the catalog line
    catalog = yaml.safe_load((schemas / "topics.yaml").read_text())
    catalog["topics"][topic] = {"partitions": 2, "cleanup_policy": "delete", "retention_ms": 3_600_000,
                                "key": "service", "schema": "heartbeat.avsc", "writers": ["simulators"]}
    (schemas / "topics.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    # 3. the class
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "heartbeat.py").write_text(SOURCE.format(topic=topic))

    settings = Settings(profile="local", catalog_path=schemas / "topics.yaml")
    apply_topics(settings)  # what `make local-up` / the bootstrap does with the catalog
    try:
        env = {**os.environ, "EB_PROFILE": "local", "EB_CATALOG_PATH": str(schemas / "topics.yaml"),
               "EB_SIMULATORS_SOURCE_DIRS": str(sources), "EB_LOG_LEVEL": "WARNING"}
        listed = subprocess.run([sys.executable, "-m", "lambdas.simulators", "sources"], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0 and f"heartbeat    topic={topic}" in listed.stdout, listed.stderr
        run = subprocess.run(
            [sys.executable, "-m", "lambdas.simulators", "run", "--rate", "heartbeat=500", "--only", "heartbeat",
             "--count", "300", "--speed", "max", "--seed", "7", "--display", "off"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        records = list(read_range(settings, {}, end_offsets(settings, topic), topic))
        assert len(records) == 300
        assert {key.decode() for key, _ in records} == {rec["service"] for _, rec in records}  # type: ignore[union-attr]
        assert {rec["service"] for _, rec in records} <= {"search-api", "booking-api", "payment-svc"}
        assert len({rec["heartbeat_id"] for _, rec in records}) == 300
    finally:
        delete_topics(settings, [topic])
