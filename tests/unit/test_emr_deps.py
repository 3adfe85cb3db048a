"""`make package`'s EMR deps archive (dist/emr/deps.tar.gz) and how `python -m emr_jobs.submit` ships it.

The archive must need no internet at job run time and match EMR Serverless's Python (3.11 on emr-7.10.0),
not this machine's: the pip command is checked (pip mocked, so the test is offline and fast); the archive
itself is built for real from this interpreter's packages (`local` platform) and imported from a clean
`python -S` whose only path is the unpacked ./deps, as Spark unpacks `spark.archives=...#deps`.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from emr_jobs import submit

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_package_emr_deps", REPO / "infra" / "package.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_pip(calls: list[list[str]]) -> Any:
    """Stands in for `pip install --target`: records the command, 'installs' one module per requirement."""

    def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        target = Path(cmd[cmd.index("--target") + 1])
        reqs = [a for a in cmd[cmd.index("--upgrade") + 1:] if not a.startswith("-")]
        for name in [r.split(">")[0].split("=")[0].split("<")[0] for r in reqs] + ["pyspark"]:  # + a stray pyspark
            mod = name.replace("-", "_").lower()
            (target / mod).mkdir()
            (target / mod / "__init__.py").write_text("")
            info = target / f"{mod}-1.0.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return run


def test_emr_bundle_downloads_wheels_for_emrs_python_not_this_one(package: ModuleType, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(package.subprocess, "run", _fake_pip(calls))
    monkeypatch.setattr(package, "copy_spark_jars", lambda dest: None)  # jars: tested in test_emr_submit
    dest = package.build_emr(tmp_path, "lambda")
    (cmd,) = calls
    assert cmd[cmd.index("--python-version") + 1] == "3.11" == package.EMR_PYTHON_VERSION
    platforms = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"]
    assert "manylinux2014_x86_64" in platforms and all(p.endswith("x86_64") for p in platforms)
    assert "--only-binary=:all:" in cmd and cmd[cmd.index("--implementation") + 1] == "cp"
    reqs = {a.split(">")[0].split("=")[0] for a in cmd[cmd.index("--upgrade") + 1:]}
    assert {"pydantic-settings", "fastavro", "boto3", "pyyaml", "confluent-kafka", "pandas", "pyarrow",
            "aws-msk-iam-sasl-signer-python"} <= reqs
    assert not reqs & {"pyspark", "py4j", "localstack-client"}  # EMR's own / local profile only
    with tarfile.open(dest / "deps.tar.gz") as tar:
        names = tar.getnames()
    assert "pydantic_settings/__init__.py" in names and "pyarrow/__init__.py" in names  # at the root: ./deps/<pkg>
    assert not [n for n in names if n.startswith("pyspark")]  # dropped even when pulled in transitively
    manifest = json.loads((dest / "deps.json").read_text())
    assert manifest["python_version"] == "3.11" and "pandas" in manifest["packages"]
    assert "pyspark" not in manifest["packages"]


def test_emr_bundle_pip_failure_is_one_clear_error(package: ModuleType, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package.subprocess, "run", lambda cmd, **_: subprocess.CompletedProcess(
        cmd, 1, "", "ERROR: No matching distribution found for pyarrow<22"))
    with pytest.raises(package.PackagingError,
                       match=r"(?s)EMR deps archive.*cp311.*manylinux x86_64.*No matching distribution"):
        package.build_emr_deps(["pyarrow<22"], tmp_path, "lambda", "3.11")


@pytest.mark.slow
def test_deps_archive_imports_from_unpacked_deps_dir_alone(package: ModuleType, tmp_path: Path) -> None:
    archive = package.build_emr_deps(["pydantic-settings>=2.3", "pyyaml>=6.0", "fastavro>=1.9"], tmp_path,
                                     "local", package.EMR_PYTHON_VERSION)
    with tarfile.open(archive) as tar:  # what Spark does with spark.archives=...#deps
        tar.extractall(tmp_path / "work" / "deps", filter="data")
    (tmp_path / "again").mkdir()
    again = package.build_emr_deps(["pydantic-settings>=2.3", "pyyaml>=6.0", "fastavro>=1.9"], tmp_path / "again",
                                   "local", package.EMR_PYTHON_VERSION)
    assert again.read_bytes() == archive.read_bytes()  # reproducible: same deps, same hash (Terraform's etag)
    code = ("import pydantic_settings, pydantic_core, yaml, fastavro, sys; "
            "print(pydantic_settings.__file__); assert 'site-packages' not in pydantic_core.__file__")
    proc = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path / "work", capture_output=True, text=True,
                          env={"PYTHONPATH": "./deps", "PATH": "/usr/bin:/bin"}, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(("deps/", "./deps/", str(tmp_path / "work" / "deps")))


def test_submit_ships_the_deps_archive_on_pythonpath_with_emrs_python311(package: ModuleType) -> None:
    conf = submit.python_env_conf("s3://artifacts/emr")  # spark-defaults properties of the job run
    assert conf["spark.archives"] == "s3://artifacts/emr/deps.tar.gz#deps"
    assert conf["spark.emr-serverless.driverEnv.PYTHONPATH"] == "./deps"
    assert conf["spark.executorEnv.PYTHONPATH"] == "./deps"
    for key in ("spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON", "spark.emr-serverless.driverEnv.PYSPARK_PYTHON",
                "spark.executorEnv.PYSPARK_PYTHON"):
        assert conf[key] == f"/usr/bin/python{package.EMR_PYTHON_VERSION}"  # the archive's Python
    assert submit.DEPS_ARCHIVE == package.EMR_DEPS_ARCHIVE
