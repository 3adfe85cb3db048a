"""The EMR Serverless launch path, run for real on this machine: the bundle ``infra/package.py emr`` builds, started
by ``spark-submit`` exactly as ``emr_jobs.submit.job_run_request`` asks EMR to start it.

The ``StartJobRun`` request of job ``app_events`` (code URI = the locally built bundle folder) is translated
mechanically into pyspark's own ``bin/spark-submit``: every ``spark-defaults`` property becomes ``--conf k=v``,
except ``spark.emr-serverless.driverEnv.X=v``, which EMR turns into the driver's environment variable X (so does
this test); ``sparkSubmitParameters`` are shlex-split as given; then ``entryPoint``, ``entryPointArguments`` and
``--once`` (availableNow: process the backlog, then exit). The job reads a small app-events backlog from scratch
topics and its windows must equal the plain-Python count (as tests/integration/test_spark_jobs.py checks).

The project's code comes from ``pyfiles.zip`` only: the driver and the Python workers run this machine's
python3.11 with ``-S`` (no site-packages, so not the venv's editable install of this checkout either), from a
working directory outside the checkout, with ``PYTHONPATH`` = ``./deps`` (the bundle's deps archive) as the
request sets it; the driver's import log must show eventbus and emr_jobs imported from the zip.

Deviations from EMR, each forced by running here (``local_request``, ``launch``): ``--master local[2]``; Kafka
without MSK IAM (``EB_KAFKA_AUTH=plaintext``); Glue (the schema registry) on the emulator (``EB_AWS_ENDPOINT_URL``
and its credentials; ``EB_PROFILE`` stays ``aws``); checkpoints in a folder instead of S3 (no EMRFS); python3.11
of this machine instead of EMR's ``/usr/bin/python3.11``; the deps archive built for this machine (``--platform
local``: this interpreter's packages instead of manylinux wheels) and unpacked into the driver's working
directory by the test (EMR's cluster-mode driver container has it there); the driver on loopback
(``SPARK_LOCAL_IP``); the scratch topics' names passed as one more ``EB_SPARK_*`` property (job_run_request has
no such setting). Only the engines of the local stack are needed (the ``stack`` fixture below).

    .venv/bin/python -m pytest tests/integration/test_emr_launch.py -q -p no:cacheprovider
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark  # the spark extra (make test installs it): missing fails collection, never skips
import pytest

from emr_jobs import submit
from emr_jobs.config import SparkSettings
from emr_jobs.jobs import registry
from eventbus.serde import AvroSerde
from eventbus.settings import Settings
from tests.support import spark_data as data
from tests.support.spark_kit import ScratchTopics, latest_by_key, produce

REPO = Path(__file__).resolve().parents[2]
PACKAGER = REPO / "infra" / "package.py"
JOB = "app_events"
EVENTS = data.app_events(120)
DRIVER_ENV = "spark.emr-serverless.driverEnv."
#: The emulator (moto) answers Glue with any credentials; EMR's driver has its execution role's.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def spark_submit() -> Path:
    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def host_python(folder: Path, name: str, *flags: str) -> Path:
    """A python3.11 without site-packages (``-S``): this machine's interpreter under the venv, so only
    PYTHONPATH (Spark's pyspark.zip and py4j, --py-files, ./deps) can provide a module beyond the stdlib."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert base.is_file(), f"no base interpreter at {base}"
    script = folder / name
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(str(base))} -S {' '.join(flags)} \"$@\"\n")
    script.chmod(0o755)
    return script


def local_request(request: dict[str, Any], topic_overrides: str, python: Path, driver_python: Path
                  ) -> dict[str, Any]:
    """``request`` with the few changes running on this machine forces (each one says why)."""
    props: dict[str, str] = request["configurationOverrides"]["applicationConfiguration"][0]["properties"]
    for prefix in (DRIVER_ENV, "spark.executorEnv."):
        # No MSK here: the local broker speaks plaintext (the request says iam).
        props[prefix + "EB_KAFKA_AUTH"] = "plaintext"
        # Glue on the emulator instead of AWS; the profile stays aws (aws.client: boto3 with this endpoint).
        props[prefix + "EB_AWS_ENDPOINT_URL"] = str(Settings(profile="local").aws_endpoint_url)
        for key, value in EMULATOR_CREDENTIALS.items():
            props[prefix + key] = value
        # The scratch topics: job_run_request passes no EB_SPARK_TOPIC_OVERRIDES (a tests-only setting).
        props[prefix + "EB_SPARK_TOPIC_OVERRIDES"] = topic_overrides
        # EMR's /usr/bin/python3.11 does not exist here: this machine's 3.11, without site-packages.
        props[prefix + "PYSPARK_PYTHON"] = str(python)
    props[DRIVER_ENV + "PYSPARK_DRIVER_PYTHON"] = str(driver_python)
    # A shared machine: the driver, its block manager and its UI listen on loopback only (on EMR: the
    # driver container's own address).
    props[DRIVER_ENV + "SPARK_LOCAL_IP"] = "127.0.0.1"
    return request


def spark_submit_command(request: dict[str, Any], master: str = "local[2]") -> tuple[list[str], dict[str, str]]:
    """The ``spark-submit`` argv and the driver's extra environment EMR Serverless derives from ``request``."""
    (defaults,) = [c for c in request["configurationOverrides"]["applicationConfiguration"]
                   if c["classification"] == "spark-defaults"]
    driver = request["jobDriver"]["sparkSubmit"]
    argv, env = [str(spark_submit()), "--master", master], {}
    for key, value in defaults["properties"].items():
        if key.startswith(DRIVER_ENV):
            env[key.removeprefix(DRIVER_ENV)] = value
        else:
            argv += ["--conf", f"{key}={value}"]
    argv += shlex.split(driver["sparkSubmitParameters"])
    argv += [driver["entryPoint"], *driver["entryPointArguments"], "--once"]
    return argv, env


@pytest.fixture(scope="module", autouse=True)
def stack() -> Iterator[None]:
    """Only the engines (Kafka, the AWS emulator), instead of the conftest's whole stack: its programs (the
    gateway, Airflow, and ``spark``, every job on local[2]) are not used here and would share the two cores
    with the job under test."""
    for key, value in EMULATOR_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", Settings().aws_region)
    from confluent_kafka import KafkaException

    from eventbus.kafka.admin import make_admin

    try:
        make_admin(Settings()).list_topics(timeout=10)
    except KafkaException as exc:
        pytest.fail(f"Kafka at {Settings().kafka_bootstrap} unreachable ({exc}) — run `make local-up`")
    yield


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, str(PACKAGER), "emr", "--platform", "local", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return out / "emr"


def launch(job: str, bundle: Path, work: Path, settings: Settings, topics: ScratchTopics) -> dict[str, Any]:
    """Run ``job`` as its job run request says, translated to spark-submit; the driver's working directory is
    ``work`` (outside the checkout). Returns the exit status, the driver's log and its environment."""
    cfg = SparkSettings(emr_application_id="00fake0application", emr_code_uri=str(bundle),
                        emr_execution_role_arn="arn:aws:iam::000000000000:role/fake-emr-job",
                        # no S3 file system here (EMR has EMRFS): checkpoints in a folder
                        checkpoint_root=str(work / "checkpoints"), lake_root=str(work / "lake"))
    jars = sorted(p.name for p in (bundle / submit.BUNDLE_JARS).glob("*.jar"))
    request = local_request(submit.job_run_request(job, settings, cfg, jars), topics.overrides,
                            host_python(work, "python3.11"), host_python(work, "python3.11-driver", "-v"))
    argv, driver_env = spark_submit_command(request)
    # EMR's driver container holds spark.archives unpacked in its working directory; a local client-mode
    # driver unpacks them only into SparkFiles' folder (for the executors), after Python has started.
    with tarfile.open(bundle / submit.DEPS_ARCHIVE) as tar:
        tar.extractall(work / submit.DEPS_DIR, filter="data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EB_", "PYTHON", "PYSPARK", "VIRTUAL_ENV"))}
    env |= driver_env
    log = work / "driver.log"
    started = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.run(argv, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=600,
                              check=False)
    return {"rc": proc.returncode, "log": log, "seconds": time.monotonic() - started, "argv": argv,
            "env": driver_env}


@pytest.fixture(scope="module")
def launched(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings = Settings()
    work = tmp_path_factory.mktemp("emr-driver")
    assert REPO not in work.parents
    job = registry(settings).get(JOB)
    with ScratchTopics(settings, [*job.reads, *job.writes], partitions=2, prefix="t_emr") as topics:
        serde = AvroSerde(settings)
        produce(settings, topics.actual("topic_app_events"), "topic_app_events", EVENTS, "user_id", serde)
        run = launch(JOB, bundle, work, settings, topics)
        yield {**run, "settings": settings, "topics": topics, "serde": serde, "bundle": bundle}


def _tail(log: Path, lines: int = 60) -> str:
    kept = [line for line in log.read_text(errors="replace").splitlines() if not line.startswith(("#", "import "))]
    return "\n".join(kept[-lines:])


def test_spark_submit_of_the_job_run_request_exits_0(launched: dict[str, Any]) -> None:
    print(f"spark-submit ran {launched['seconds']:.0f} s: {shlex.join(launched['argv'])}")
    assert launched["rc"] == 0, _tail(launched["log"])


def test_the_windows_equal_plain_python(launched: dict[str, Any]) -> None:
    assert launched["rc"] == 0, _tail(launched["log"])
    rows = latest_by_key(launched["settings"], launched["topics"].actual("topic_processed_events"),
                         launched["serde"])
    got = {k: v["event_count"] for k, v in rows.items() if v is not None and v["job"] == JOB}
    assert got == data.expected_app_windows(EVENTS)
    assert len(got) > 20


#: ``python -v``: where a module came from (a file or a zip).
LOADED = re.compile(r"^# (?:code object from|extension module '[\w.]+' loaded from) '?([^' ]+)'?$"
                    r"|^import '[\w.]+' # <zipimporter object \"([^\"]+)\">$", re.M)


def test_the_project_code_came_from_pyfiles_zip(launched: dict[str, Any]) -> None:
    """The driver's import log (python -v): eventbus and emr_jobs from the bundle's zip; everything else from
    the stdlib, the deps archive (./deps) or Spark's own pyspark.zip / py4j: nothing from the checkout or the venv."""
    text = launched["log"].read_text(errors="replace")
    zip_path = str(launched["bundle"] / "pyfiles.zip")
    ours = dict(re.findall(r"^import '((?:eventbus|emr_jobs)[\w.]*)' # (.*)$", text, re.M))
    assert {"eventbus.paths", "eventbus.serde", "emr_jobs.run", "emr_jobs.app_events"} <= ours.keys()
    assert all(zip_path in origin for origin in ours.values()), ours
    stdlib = f"{Path(sys.base_prefix) / 'lib' / f'python{sys.version_info.major}.{sys.version_info.minor}'}/"
    allowed = (zip_path + "/", f"{launched['log'].parent / submit.DEPS_DIR}/",
               f"{spark_submit().parents[1] / 'python' / 'lib'}/", stdlib)
    origins = {a or b for a, b in LOADED.findall(text)}
    strays = {o for o in origins if not o.startswith(allowed) or o.startswith(stdlib + "site-packages/")}
    assert origins and strays == set()
    assert str(REPO) not in launched["env"].get("PYTHONPATH", "")
