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
    assert not (dags / "extdata" / "cli.py").exists()  # the local dag.test() runner (infra/package.py)
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


MWAA_DIR = REPO / "mwaa_dags" / "requirements" / "mwaa-3.2.1"
sys.path.insert(0, str(REPO / "mwaa_dags" / "requirements"))
import local_env  # noqa: E402


def requirement_lines() -> list[str]:
    text = (REPO / "mwaa_dags" / "requirements.txt").read_text()
    return [x.strip() for x in text.splitlines() if x.strip() and not x.strip().startswith("#")]


def test_requirements_are_what_mwaa_accepts() -> None:
    lines = requirement_lines()
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
    # the vendored file is the image's copy of exactly this URL
    assert constraint[0].split(None, 1)[1].strip('"') in (MWAA_DIR / "airflow_constraints.txt").read_text()[:300]
    names = {Requirement(x).name.lower() for x in lines if not x.startswith("-")}
    assert not any(n.startswith("apache-airflow") and n != "apache-airflow-providers-amazon" for n in names)
    assert {"confluent-kafka", "fastavro", "aws-msk-iam-sasl-signer-python", "psycopg2-binary"} <= names


def test_requirements_resolve_against_the_mwaa_pins() -> None:
    """Every extra requirement is pinned; where MWAA's constraints pin the package, to that very version
    (pip would refuse anything else on MWAA); and each one's own dependencies (as published in its
    metadata, read from .venv-airflow where the same version is installed) accept the constraints' pins."""
    pinned = local_env.pins(MWAA_DIR / "airflow_constraints.txt")
    essential = local_env.pins(MWAA_DIR / "mwaa_essential_constraints.txt")
    assert essential and all(pinned[n][1] == v for n, (_, v) in essential.items() if n in pinned)
    reqs = [Requirement(x) for x in requirement_lines() if not x.startswith("-")]
    for r in reqs:
        spec = list(r.specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"{r} is not pinned"
        mwaa = pinned.get(local_env.canonical(r.name))
        assert mwaa is None or mwaa[1] == spec[0].version, f"{r}: MWAA's constraints pin {mwaa}"
    probe = ("import json, sys; from importlib.metadata import distribution as d; "
             "print(json.dumps({n: [d(n).version, d(n).requires or []] for n in sys.argv[1:]}))")
    proc = subprocess.run([str(AIRFLOW_PY), "-c", probe, *[r.name for r in reqs]], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads(proc.stdout)
    for r in reqs:
        version, requires = meta[r.name]
        assert version == next(iter(r.specifier)).version, f".venv-airflow has {r.name} {version}, not {r}"
        for dep in map(Requirement, requires):
            if dep.marker and not dep.marker.evaluate({"python_version": "3.12", "extra": ""}):
                continue
            if (pin := pinned.get(local_env.canonical(dep.name))) is not None:
                assert dep.specifier.contains(pin[1], prereleases=True), f"{r.name} needs {dep}; MWAA pins {pin}"


def test_local_airflow_uses_the_mwaa_pins() -> None:
    """.venv-airflow (Python 3.11) has MWAA's version of every package both have, except the overrides
    listed (with their reason) in requirements/py311.txt."""
    overrides = local_env.pins(REPO / "mwaa_dags" / "requirements" / "py311.txt")
    pinned = local_env.pins(MWAA_DIR / "airflow_constraints.txt")
    probe = ("import json; from importlib.metadata import distributions as ds; "
             "print(json.dumps({d.metadata['Name']: d.version for d in ds()}))")
    proc = subprocess.run([str(AIRFLOW_PY), "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    installed = {local_env.canonical(n): v for n, v in json.loads(proc.stdout).items()}
    tooling = {"pip", "setuptools", "wheel"}  # the venv's own installers, not what the DAGs run on
    differ = {n: (installed[n], pinned[n][1]) for n in installed
              if n in pinned and installed[n] != pinned[n][1] and n not in {*overrides, *tooling}}
    assert differ == {}, f"(installed, MWAA) — rebuild with `make airflow-install` or list in py311.txt: {differ}"
    assert all(installed.get(n) == v for n, (_, v) in overrides.items())
    assert installed["apache-airflow"] == "3.2.1"
