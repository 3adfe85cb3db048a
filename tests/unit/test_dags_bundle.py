"""The MWAA DAG bundle from `make package` stands on its own: in a clean interpreter with only the bundle
on the path (plus the Airflow install), every DAG parses, and the shared code, the catalog and the source
config all come from the bundle. Its requirements.txt is one MWAA accepts (a --constraint line for the
Airflow version Terraform deploys)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
AIRFLOW_PY = REPO / ".venv-airflow" / "bin" / "python"
PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
import eventbus, extdata
from eventbus.catalog import load_catalog
from extdata.settings import DagSettings
from extdata.sources import load_sources
bag = DagBag(sys.argv[1], include_examples=False)
spec = load_catalog().get("topic_external_data")
catalog = str(load_catalog().path)
print("BUNDLE " + json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids),
    "files": [eventbus.__file__, extdata.__file__, str(DagSettings().sources_path), catalog],
    "schema": spec.schema["name"], "sources": [s.name for s in load_sources(DagSettings().sources_path).sources],
}))
"""


def test_bundle_imports_alone(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, str(REPO / "infra" / "package.py"), "mwaa", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dags = out / "mwaa" / "dags"
    assert sorted(p.name for p in dags.glob("*.py")) == [
        "config_driven_pipeline.py", "maps_data_ingestion.py", "weather_data_ingestion.py"]
    for rel in ("extdata/sources.py", "config/sources.yaml", "config/destinations.yaml", "eventbus/serde.py",
                "schemas/topics.yaml", "schemas/external_data.avsc"):
        assert (dags / rel).is_file(), rel
    assert not (dags / "requirements").exists() and not (dags / "local").exists()
    assert set((dags / ".airflowignore").read_text().split()) >= {"extdata/", "config/", "eventbus/", "schemas/"}

    assert AIRFLOW_PY.exists(), f"{AIRFLOW_PY} missing — run `make install` (it creates .venv-airflow)"
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(dags), "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "EB_PROFILE": "aws"}
    proc = subprocess.run([str(AIRFLOW_PY), "-s", "-c", PROBE, str(dags)], env=env, cwd=home, capture_output=True,
                          text=True, timeout=180, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BUNDLE ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    got = json.loads(line.split(" ", 1)[1])
    assert got["errors"] == {}
    assert got["dags"] == ["config_driven_pipeline", "maps_data_ingestion", "weather_data_ingestion"]
    assert all(f.startswith(str(dags)) for f in got["files"]), got["files"]  # nothing from the checkout
    assert got["schema"].endswith("ExternalData")
    assert got["sources"] == ["social_bluesky", "market_fx", "news_hackernews"]


def test_requirements_are_what_mwaa_accepts(tmp_path: Path) -> None:
    text = (REPO / "mwaa_dags" / "requirements.txt").read_text()
    lines = [x.strip() for x in text.splitlines() if x.strip() and not x.strip().startswith("#")]
    constraint = [x for x in lines if x.startswith("--constraint")]
    assert len(constraint) == 1
    m = re.search(r"constraints-(\d+\.\d+\.\d+)/constraints-(3\.\d+)\.txt", constraint[0])
    assert m, constraint[0]
    local_pin = re.search(r"apache-airflow\[postgres\]==(\S+)", (REPO / "mwaa_dags/requirements/local.txt").read_text())
    tf_default = re.search(r'variable "mwaa_airflow_version" \{[^}]*default\s*=\s*"([^"]+)"',
                           (REPO / "infra" / "variables.tf").read_text())
    assert local_pin and tf_default
    assert m.group(1) == local_pin.group(1) == tf_default.group(1)  # one Airflow version everywhere
    assert m.group(2) == "3.12"  # MWAA runs Airflow 3 on Python 3.12
    names = {Requirement(x).name.lower() for x in lines if not x.startswith("-")}
    assert not any(n.startswith("apache-airflow") and n != "apache-airflow-providers-amazon" for n in names)
    assert {"confluent-kafka", "fastavro", "aws-msk-iam-sasl-signer-python", "psycopg2-binary"} <= names
