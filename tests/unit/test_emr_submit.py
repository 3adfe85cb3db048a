"""EMR Serverless: the job bundle (`make package`) and `python -m emr_jobs.submit` against moto.

moto's emr-serverless accepts StartJobRun but keeps neither ``mode`` nor ``retryPolicy`` (its JobRun has
no such fields), so those two are checked on the request botocore validated and sent, captured with a
botocore event hook; what moto stores (driver, entry point, role) is read back with GetJobRun.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from emr_jobs.config import SparkSettings
from emr_jobs.errors import JobError
from emr_jobs.jobs import JOB_NAMES
from emr_jobs.submit import job_run_request, submit
from eventbus.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def emr(settings: Settings) -> tuple[Settings, SparkSettings, Any]:
    client = boto3.client("emr-serverless", region_name="us-east-1")
    app = client.create_application(name="travel-streaming", releaseLabel="emr-7.10.0", type="SPARK")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="artifacts")
    for jar in ("spark-sql-kafka-0-10_2.12-3.5.7.jar", "aws-msk-iam-auth-2.3.2-all.jar"):
        s3.put_object(Bucket="artifacts", Key=f"emr/jars/{jar}", Body=b"jar")
    cfg = SparkSettings(emr_application_id=app["applicationId"],
                        emr_execution_role_arn="arn:aws:iam::123456789012:role/travel-emr-job",
                        emr_code_uri="s3://artifacts/emr")
    aws_settings = settings.model_copy(update={"kafka_bootstrap": "b-1.msk:9098", "kafka_auth": "iam"})
    return aws_settings, cfg, client


def test_submit_starts_streaming_job_runs_with_retry_policy(emr: tuple[Settings, SparkSettings, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings, cfg, client = emr
    sent: list[dict[str, Any]] = []
    import emr_jobs.submit as sub

    real_client = sub.aws.client

    def capturing_client(service: str, s: Settings) -> Any:
        c = real_client(service, s)
        if service == "emr-serverless":
            c.meta.events.register("provide-client-params.emr-serverless.StartJobRun",
                                   lambda params, **_: sent.append(params))
        return c

    monkeypatch.setattr(sub.aws, "client", capturing_client)
    runs = submit(["app_events", "booking_state"], settings, cfg)
    assert [r["name"] for r in runs] == ["travel-streaming-app_events", "travel-streaming-booking_state"]
    assert all(p["mode"] == "STREAMING" and p["retryPolicy"]["maxFailedAttemptsPerHour"] >= 1 for p in sent)
    got = client.get_job_run(applicationId=cfg.emr_application_id, jobRunId=runs[0]["jobRunId"])["jobRun"]
    driver = got["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://artifacts/emr/main.py"
    assert driver["entryPointArguments"] == ["run", "--jobs", "app_events"]
    params = driver["sparkSubmitParameters"]
    assert "--jars s3://artifacts/emr/jars/aws-msk-iam-auth-2.3.2-all.jar,s3://artifacts/emr/jars/spark-sql" in params
    assert "--py-files s3://artifacts/emr/pyfiles.zip" in params
    assert "spark.emr-serverless.driverEnv.EB_KAFKA_AUTH=iam" in params
    assert "spark.emr-serverless.driverEnv.EB_SPARK_CHECKPOINT_ROOT=s3://travel-checkpoints/spark" in params
    # the Python deps archive (make package: dist/emr/deps.tar.gz) unpacked to ./deps on PYTHONPATH, on python3.11
    assert "--conf spark.archives=s3://artifacts/emr/deps.tar.gz#deps" in params
    assert "spark.emr-serverless.driverEnv.PYTHONPATH=./deps" in params
    assert "spark.executorEnv.PYTHONPATH=./deps" in params
    assert "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=/usr/bin/python3.11" in params
    assert "spark.executorEnv.PYSPARK_PYTHON=/usr/bin/python3.11" in params
    assert got["executionRole"] == cfg.emr_execution_role_arn


def test_msk_iam_options_on_the_kafka_source_and_sink() -> None:
    from emr_jobs.streams import sink_options

    opts = sink_options(Settings(profile="aws", kafka_bootstrap="b-1.msk:9098"))
    assert opts["kafka.security.protocol"] == "SASL_SSL"
    assert opts["kafka.sasl.mechanism"] == "AWS_MSK_IAM"
    assert opts["kafka.sasl.jaas.config"] == "software.amazon.msk.auth.iam.IAMLoginModule required;"
    assert opts["kafka.sasl.client.callback.handler.class"].endswith("IAMClientCallbackHandler")
    assert opts["kafka.acks"] == "all" and opts["kafka.enable.idempotence"] == "true"
    local = sink_options(Settings(profile="local"))
    assert "kafka.security.protocol" not in local


def test_submit_without_application_says_what_to_set(settings: Settings) -> None:
    with pytest.raises(JobError, match="EB_EMR_APPLICATION_ID"):
        job_run_request("lake", settings, SparkSettings(emr_application_id=None), ["a.jar"])


def test_emr_env_names_shared_with_the_eventbus_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_EMR_APPLICATION_ID", "00abc")
    monkeypatch.setenv("EB_EMR_EXECUTION_ROLE_ARN", "arn:aws:iam::1:role/x")
    cfg = SparkSettings()
    assert (cfg.emr_application_id, cfg.emr_execution_role_arn) == ("00abc", "arn:aws:iam::1:role/x")


def test_submit_cli_help_and_dry_run(monkeypatch: pytest.MonkeyPatch) -> None:
    out = subprocess.run([sys.executable, "-m", "emr_jobs.submit", "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0 and "--dry-run" in out.stdout
    env = {"EB_EMR_APPLICATION_ID": "00app", "EB_EMR_EXECUTION_ROLE_ARN": "arn:aws:iam::1:role/x",
           "EB_SPARK_EMR_CODE_URI": "s3://a/emr", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "emr_jobs.submit", "--dry-run", "--jobs", "lake"],
                         capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert '"mode": "STREAMING"' in out.stdout
    bad = subprocess.run([sys.executable, "-m", "emr_jobs.submit", "--dry-run", "--jobs", "nope"],
                         capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "unknown job" in bad.stderr


def test_bundle_has_entry_point_shared_code_and_every_jar(tmp_path: Path) -> None:
    if not any((REPO / "emr_jobs" / "jars" / "target" / "jars").glob("*.jar")):
        pytest.skip("connector jars not resolved (make spark-jars)")
    out = subprocess.run([sys.executable, str(REPO / "infra" / "package.py"), "emr", "--platform", "local",
                          "--no-emr-deps", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    emr = tmp_path / "emr"
    jars = {p.name.split("-3.")[0].split("-2.")[0] for p in (emr / "jars").glob("*.jar")}
    assert {"spark-sql-kafka-0-10_2.12", "spark-avro_2.12", "kafka-clients", "aws-msk-iam-auth",
            "spark-token-provider-kafka-0-10_2.12", "commons-pool2"} <= jars
    assert (emr / "main.py").is_file()
    names = zipfile.ZipFile(emr / "pyfiles.zip").namelist()
    assert "emr_jobs/run.py" in names and "eventbus/serde.py" in names and "schemas/topics.yaml" in names
    assert not [n for n in names if n.endswith(".jar")]
    assert not (emr / "deps.tar.gz").exists()  # --no-emr-deps; the archive: tests/unit/test_emr_deps.py
    assert set(JOB_NAMES) == {"app_events", "clickstream", "booking_state", "user_state", "lake"}
