"""Start the jobs on EMR Serverless: one STREAMING job run per job, with a retry policy, checkpoints in S3,
MSK IAM auth, and every jar from the uploaded bundle (a job run downloads nothing).

    python -m emr_jobs.submit --help
    python -m emr_jobs.submit --jobs app_events,booking_state      # EB_EMR_APPLICATION_ID, ... from env
    python -m emr_jobs.submit --dry-run                             # print the requests, start nothing

The bundle is what `make package` writes to dist/emr/ (main.py, pyfiles.zip, jars/, deps.tar.gz, requirements.txt),
uploaded by Terraform to ``EB_SPARK_EMR_CODE_URI`` (s3://<artifacts bucket>/emr).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from emr_jobs.config import SparkSettings, get_spark_settings
from emr_jobs.errors import JobError
from emr_jobs.jobs import JOB_NAMES
from eventbus import aws
from eventbus.settings import Settings, get_settings

#: The EMR bundle's jars (dist/emr/jars/, from emr_jobs/jars/pom.xml).
BUNDLE_JARS = "jars"
#: The jobs' Python deps (dist/emr/deps.tar.gz: cp311 manylinux wheels, installed by `make package`), unpacked by
#: Spark into ./deps of the driver's and each executor's working directory and put on their PYTHONPATH.
DEPS_ARCHIVE = "deps.tar.gz"
DEPS_DIR = "deps"
#: EMR 7.x's default python3 is 3.9; the code (and deps.tar.gz) need 3.11, which the image has here.
EMR_PYTHON = "/usr/bin/python3.11"
#: Settings the driver and executors need, passed as environment variables (same names as locally).
PASSED_SETTINGS = ("kafka_bootstrap", "kafka_auth", "kafka_serverless", "aws_region", "registry_name", "lake_bucket",
                   "checkpoint_bucket")
#: A streaming job run restarts after a failure, at most this many times per hour (EMR's maximum is 10).
MAX_FAILED_ATTEMPTS_PER_HOUR = 5


def job_run_request(job: str, settings: Settings, cfg: SparkSettings, jars: list[str]) -> dict[str, Any]:
    """The ``StartJobRun`` request of one job (STREAMING mode, retry policy, S3 checkpoints, MSK IAM)."""
    if not cfg.emr_application_id or not cfg.emr_execution_role_arn:
        raise JobError("EB_EMR_APPLICATION_ID and EB_EMR_EXECUTION_ROLE_ARN must be set "
                       "(Terraform outputs emr_application_id / emr_execution_role_arn)")
    if not cfg.emr_code_uri:
        raise JobError("EB_SPARK_EMR_CODE_URI must name where dist/emr/ was uploaded (s3://<artifacts bucket>/emr)")
    code = cfg.emr_code_uri.rstrip("/")
    env = {f"EB_{name.upper()}": str(getattr(settings, name)) for name in PASSED_SETTINGS}
    env.update({
        "EB_PROFILE": "aws",
        "EB_KAFKA_AUTH": "iam",
        "EB_SPARK_CHECKPOINT_ROOT": cfg.checkpoint_root or f"s3://{settings.checkpoint_bucket}/spark",
        "EB_SPARK_LAKE_ROOT": cfg.lake_root or f"s3://{settings.lake_bucket}/lake",
        "EB_SPARK_SHUFFLE_PARTITIONS": str(max(cfg.shuffle_partitions, 6)),
        "EB_SPARK_TRIGGER_SECONDS": str(cfg.trigger_seconds),
        "EB_SPARK_WATERMARK": cfg.watermark,
        "EB_SPARK_PROGRESS_DIR": "/tmp/spark-progress",
    })
    conf = [f"--conf spark.emr-serverless.driverEnv.{k}={v}" for k, v in sorted(env.items())]
    conf += [f"--conf spark.executorEnv.{k}={v}" for k, v in sorted(env.items())]
    conf += python_env_conf(code)
    submit = " ".join([
        f"--py-files {code}/pyfiles.zip",
        "--jars " + ",".join(f"{code}/{BUNDLE_JARS}/{j}" for j in jars),
        "--conf spark.sql.streaming.stateStore.providerClass="
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        *conf,
    ])
    request: dict[str, Any] = {
        "applicationId": cfg.emr_application_id,
        "executionRoleArn": cfg.emr_execution_role_arn,
        "clientToken": str(uuid.uuid4()),
        "name": f"travel-streaming-{job}",
        "mode": "STREAMING",
        "retryPolicy": {"maxFailedAttemptsPerHour": MAX_FAILED_ATTEMPTS_PER_HOUR},
        "jobDriver": {"sparkSubmit": {
            "entryPoint": f"{code}/main.py",
            "entryPointArguments": ["run", "--jobs", job],
            "sparkSubmitParameters": submit,
        }},
        "tags": {"component": "emr_jobs", "job": job},
    }
    if cfg.emr_log_uri:
        request["configurationOverrides"] = {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": cfg.emr_log_uri}}}
    return request


def python_env_conf(code: str) -> list[str]:
    """The Python environment of the job run: EMR's python3.11 with the bundle's deps archive on PYTHONPATH
    (EMR Serverless user guide, "Using Python libraries with EMR Serverless" / Spark job properties:
    ``spark.archives``, ``spark.emr-serverless.driverEnv.<VAR>``, ``spark.executorEnv.<VAR>``)."""
    env = {"PYSPARK_PYTHON": EMR_PYTHON, "PYTHONPATH": f"./{DEPS_DIR}"}
    return [
        f"--conf spark.archives={code}/{DEPS_ARCHIVE}#{DEPS_DIR}",
        f"--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={EMR_PYTHON}",
        *(f"--conf spark.emr-serverless.driverEnv.{k}={v}" for k, v in env.items()),
        *(f"--conf spark.executorEnv.{k}={v}" for k, v in env.items()),
    ]


def bundle_jars(settings: Settings, cfg: SparkSettings) -> list[str]:
    """Names of the jars in the uploaded bundle (``<code uri>/jars/``), listed from S3."""
    code = (cfg.emr_code_uri or "").removeprefix("s3://").rstrip("/")
    bucket, _, prefix = code.partition("/")
    s3 = aws.client("s3", settings)
    keys = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/{BUNDLE_JARS}/").get("Contents", [])
    jars = sorted(k["Key"].rsplit("/", 1)[1] for k in keys if k["Key"].endswith(".jar"))
    if not jars:
        raise JobError(f"no jars under {cfg.emr_code_uri}/{BUNDLE_JARS}/ — run `make package` and upload dist/emr/")
    return jars


def submit(jobs: list[str], settings: Settings, cfg: SparkSettings, dry_run: bool = False,
           jars: list[str] | None = None) -> list[dict[str, Any]]:
    """Start one job run per job; returns the requests (and the job run ids unless ``dry_run``)."""
    unknown = [j for j in jobs if j not in JOB_NAMES]
    if unknown:
        raise JobError(f"unknown job(s) {', '.join(unknown)} — choose from {', '.join(JOB_NAMES)}")
    jars = jars if jars is not None else bundle_jars(settings, cfg)
    client = None if dry_run else aws.client("emr-serverless", settings)
    out = []
    for job in jobs:
        request = job_run_request(job, settings, cfg, jars)
        if client is not None:
            answer = client.start_job_run(**request)
            request = {**request, "jobRunId": answer["jobRunId"]}
        out.append(request)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emr_jobs.submit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", default=",".join(JOB_NAMES), help=f"comma-separated (default: {','.join(JOB_NAMES)})")
    parser.add_argument("--dry-run", action="store_true", help="print the StartJobRun requests, start nothing")
    parser.add_argument("--jars", help="comma-separated jar names in <code uri>/jars/ (default: list them in S3)")
    args = parser.parse_args(argv)
    try:
        settings, cfg = get_settings(), get_spark_settings()
        jars = args.jars.split(",") if args.jars else None
        if args.dry_run and jars is None:
            jars = ["<jars from the bundle>"]
        runs = submit([j.strip() for j in args.jobs.split(",") if j.strip()], settings, cfg, args.dry_run, jars)
    except Exception as exc:
        from emr_jobs.errors import one_line

        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    for run in runs:
        print(json.dumps(run) if args.dry_run else f"{run['name']}: job run {run['jobRunId']} (STREAMING)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
