"""Start the jobs on EMR Serverless: one STREAMING job run per job, with a retry policy, checkpoints in S3,
MSK IAM auth, explicit worker sizes that fit the application's cap, and every jar from the uploaded bundle.
A job already running under the same name is cancelled first, so a redeploy replaces runs, never adds.

    python -m emr_jobs.submit --help
    python -m emr_jobs.submit --jobs app_events,booking_state      # EB_EMR_APPLICATION_ID, ... from env
    python -m emr_jobs.submit --dry-run                             # print the requests, start nothing
    python -m emr_jobs.submit --stop                                # cancel the jobs' runs (make undeploy)

The bundle is what `make package` writes to dist/emr/ (main.py, pyfiles.zip, jars/, deps.tar.gz, requirements.txt),
uploaded by Terraform to ``EB_SPARK_EMR_CODE_URI`` (s3://<artifacts bucket>/emr).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from emr_jobs.config import SparkSettings, get_spark_settings
from emr_jobs.errors import JobError
from emr_jobs.jobs import job_names, registry
from eventbus import aws
from eventbus.cli import exit_with
from eventbus.exceptions import SettingsError
from eventbus.settings import Settings, env_names, get_settings

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
#: SparkSettings that describe this machine or the submission, not the job (EMR sets master and memory; the
#: rest are set per run below): every other EB_SPARK_* the submitter sets reaches the driver and executors.
NOT_PASSED_SPARK = frozenset({"master", "driver_memory", "ui_port", "jars_dir", "checkpoint_root", "lake_root",
                              "progress_dir", "shuffle_partitions", "trigger_seconds", "watermark"})
#: A streaming job run restarts after a failure, at most this many times per hour (EMR's maximum is 10).
MAX_FAILED_ATTEMPTS_PER_HOUR = 5
#: The lake zone the jobs write (s3://<lake>/processed/...): the zone whose IAM grants (modules/emr) and
#: lifecycle rule (modules/storage) cover it. raw/ is the DAGs' landing zone, never written by Spark.
LAKE_ZONE = "processed"
#: Job-run states in which a run still holds (or will take) capacity: replaced on a redeploy.
ACTIVE_STATES = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")
TERMINAL_STATES = ("SUCCESS", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class WorkerSizing:
    """Explicit worker sizes of one job run. Without them each run gets EMR's defaults (4 vCPU / 16 GB driver
    and executors, dynamic allocation), so one run fills a 16 vCPU / 64 GB application and the others wait.

    EMR Serverless workers: 1 vCPU takes 2-8 GB, 2 vCPU 4-16 GB, in 1 GB steps (EMR Serverless user guide,
    "Supported worker configurations"); a worker's memory is the Spark memory plus its overhead, both set
    here in whole GB so the sum over all jobs is exact (``tests/unit/test_emr_submit.py`` checks it against
    the application's maximum capacity in infra/variables.tf). Dynamic allocation is off: a streaming query
    keeps its executors, and a fixed count is what makes the sum a bound.
    """

    driver_cores: int = 1
    driver_memory_gb: int = 3
    executor_cores: int = 2
    executor_memory_gb: int = 7
    executors: int = 1
    overhead_gb: int = 1

    def vcpu(self) -> int:
        return self.driver_cores + self.executors * self.executor_cores

    def memory_gb(self) -> int:
        return self.driver_memory_gb + self.overhead_gb + self.executors * (self.executor_memory_gb + self.overhead_gb)

    def conf(self) -> dict[str, str]:
        return {
            "spark.driver.cores": str(self.driver_cores),
            "spark.driver.memory": f"{self.driver_memory_gb}g",
            "spark.driver.memoryOverhead": f"{self.overhead_gb}g",
            "spark.executor.cores": str(self.executor_cores),
            "spark.executor.memory": f"{self.executor_memory_gb}g",
            "spark.executor.memoryOverhead": f"{self.overhead_gb}g",
            "spark.executor.instances": str(self.executors),
            "spark.dynamicAllocation.enabled": "false",
        }


SIZING = WorkerSizing()
#: Streaming state: RocksDB, with changelog checkpointing (each batch uploads only the changed keys; a
#: snapshot is taken in the background), Spark >= 3.4 ("RocksDB State Store Changelog Checkpointing",
#: Structured Streaming programming guide). It can be switched on for an existing checkpoint.
STATE_CONF = {
    "spark.sql.streaming.stateStore.providerClass":
        "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
}


def job_run_request(job: str, settings: Settings, cfg: SparkSettings, jars: list[str],
                    sizing: WorkerSizing = SIZING) -> dict[str, Any]:
    """The ``StartJobRun`` request of one job (STREAMING mode, retry policy, S3 checkpoints, MSK IAM).

    Every Spark property goes into ``configurationOverrides`` as ``spark-defaults`` properties: a JSON map, so
    a value with spaces (``EB_SPARK_WATERMARK=10 minutes``) reaches Spark whole instead of being split by the
    space-separated ``sparkSubmitParameters``, which carry only ``--py-files`` and ``--jars`` (shell-quoted)."""
    if not cfg.emr_application_id or not cfg.emr_execution_role_arn:
        raise JobError("EB_EMR_APPLICATION_ID and EB_EMR_EXECUTION_ROLE_ARN must be set "
                       "(Terraform outputs emr_application_id / emr_execution_role_arn)")
    if not cfg.emr_code_uri:
        raise JobError("EB_SPARK_EMR_CODE_URI must name where dist/emr/ was uploaded (s3://<artifacts bucket>/emr)")
    code = cfg.emr_code_uri.rstrip("/")
    env = {f"EB_{name.upper()}": str(getattr(settings, name)) for name in PASSED_SETTINGS}
    names = env_names(SparkSettings)
    env.update({names[f]: _env_value(getattr(cfg, f)) for f in sorted(cfg.model_fields_set)
                if f not in NOT_PASSED_SPARK and not f.startswith("emr_") and getattr(cfg, f) is not None})
    env.update({
        "EB_PROFILE": "aws",
        "EB_KAFKA_AUTH": "iam",
        "EB_SPARK_CHECKPOINT_ROOT": cfg.checkpoint_root or f"s3://{settings.checkpoint_bucket}/spark",
        "EB_SPARK_LAKE_ROOT": cfg.lake_root or f"s3://{settings.lake_bucket}/{LAKE_ZONE}",
        "EB_SPARK_SHUFFLE_PARTITIONS": str(max(cfg.shuffle_partitions, 6)),
        "EB_SPARK_TRIGGER_SECONDS": str(cfg.trigger_seconds),
        "EB_SPARK_WATERMARK": cfg.watermark,
        "EB_SPARK_PROGRESS_DIR": "/tmp/spark-progress",
    })
    properties = {f"spark.emr-serverless.driverEnv.{k}": v for k, v in sorted(env.items())}
    properties |= {f"spark.executorEnv.{k}": v for k, v in sorted(env.items())}
    properties |= python_env_conf(code) | sizing.conf() | STATE_CONF
    submit = shlex.join(["--py-files", f"{code}/pyfiles.zip",
                         "--jars", ",".join(f"{code}/{BUNDLE_JARS}/{j}" for j in jars)])
    monitoring: dict[str, Any] = {}
    if cfg.emr_log_group:
        monitoring["cloudWatchLoggingConfiguration"] = {
            "enabled": True, "logGroupName": cfg.emr_log_group, "logStreamNamePrefix": job}
    if cfg.emr_log_uri:
        monitoring["s3MonitoringConfiguration"] = {"logUri": cfg.emr_log_uri}
    overrides: dict[str, Any] = {
        "applicationConfiguration": [{"classification": "spark-defaults", "properties": properties}]}
    if monitoring:
        overrides["monitoringConfiguration"] = monitoring
    return {
        "applicationId": cfg.emr_application_id,
        "executionRoleArn": cfg.emr_execution_role_arn,
        "clientToken": str(uuid.uuid4()),
        "name": run_name(job),
        "mode": "STREAMING",
        "retryPolicy": {"maxFailedAttemptsPerHour": MAX_FAILED_ATTEMPTS_PER_HOUR},
        "jobDriver": {"sparkSubmit": {
            "entryPoint": f"{code}/main.py",
            "entryPointArguments": ["run", "--jobs", job],
            "sparkSubmitParameters": submit,
        }},
        "configurationOverrides": overrides,
        "tags": {"component": "emr_jobs", "job": job},
    }


def _env_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_name(job: str) -> str:
    return f"travel-streaming-{job}"


def python_env_conf(code: str) -> dict[str, str]:
    """The Python environment of the job run: EMR's python3.11 with the bundle's deps archive on PYTHONPATH
    (EMR Serverless user guide, "Using Python libraries with EMR Serverless" / Spark job properties:
    ``spark.archives``, ``spark.emr-serverless.driverEnv.<VAR>``, ``spark.executorEnv.<VAR>``)."""
    env = {"PYSPARK_PYTHON": EMR_PYTHON, "PYTHONPATH": f"./{DEPS_DIR}"}
    return {
        "spark.archives": f"{code}/{DEPS_ARCHIVE}#{DEPS_DIR}",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": EMR_PYTHON,
        **{f"spark.emr-serverless.driverEnv.{k}": v for k, v in env.items()},
        **{f"spark.executorEnv.{k}": v for k, v in env.items()},
    }


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


def active_runs(client: Any, application_id: str, names: set[str]) -> list[dict[str, Any]]:
    """Job runs of ``application_id`` named one of ``names`` that still hold or await capacity."""
    runs: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("list_job_runs").paginate(applicationId=application_id,
                                                                    states=list(ACTIVE_STATES)):
            runs += [r for r in page.get("jobRuns", []) if r.get("name") in names]
    except client.exceptions.ResourceNotFoundException:
        client.get_application(applicationId=application_id)  # raises when the application itself is unknown
        return []  # moto answers NotFound for an application that has no job run yet
    return runs


def cancel_runs(client: Any, application_id: str, jobs: list[str], timeout_s: float = 600) -> list[str]:
    """Cancel the jobs' active runs and wait (bounded) until each is terminal: two runs of one job must never
    write the same checkpoint. Returns the cancelled run ids."""
    runs = active_runs(client, application_id, {run_name(j) for j in jobs})
    for run in runs:
        client.cancel_job_run(applicationId=application_id, jobRunId=run["id"])
    pending = {r["id"] for r in runs}
    deadline = time.monotonic() + timeout_s
    while pending:
        pending = {i for i in pending if client.get_job_run(applicationId=application_id, jobRunId=i)
                   ["jobRun"]["state"] not in TERMINAL_STATES}
        if pending and time.monotonic() > deadline:
            raise JobError(f"job runs {', '.join(sorted(pending))} still not cancelled after {timeout_s:.0f} s")
        if pending:
            time.sleep(5)
    return [r["id"] for r in runs]


def submit(jobs: list[str], settings: Settings, cfg: SparkSettings, dry_run: bool = False,
           jars: list[str] | None = None) -> list[dict[str, Any]]:
    """Start one job run per job, cancelling the job's running run first; returns the requests (and the job run
    ids, and the ids of the runs they replaced, unless ``dry_run``)."""
    registry(settings).select(jobs)  # unknown names: one line naming the registry's jobs
    jars = jars if jars is not None else bundle_jars(settings, cfg)
    requests = [job_run_request(job, settings, cfg, jars) for job in jobs]
    if dry_run:
        return requests
    client = aws.client("emr-serverless", settings)
    out = []
    for job, request in zip(jobs, requests, strict=True):
        replaced = cancel_runs(client, request["applicationId"], [job])
        answer = client.start_job_run(**request)
        out.append({**request, "jobRunId": answer["jobRunId"], "replaced": replaced})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emr_jobs.submit", description=__doc__.split("\n\n")[0])
    names = ",".join(job_names())
    parser.add_argument("--jobs", default=names, help=f"comma-separated (default: {names})")
    parser.add_argument("--dry-run", action="store_true", help="print the StartJobRun requests, start nothing")
    parser.add_argument("--stop", action="store_true", help="cancel the jobs' active runs, start nothing")
    parser.add_argument("--jars", help="comma-separated jar names in <code uri>/jars/ (default: list them in S3)")
    args = parser.parse_args(argv)
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    try:
        settings, cfg = get_settings(), get_spark_settings()
        if args.stop:
            if not cfg.emr_application_id:
                raise JobError("EB_EMR_APPLICATION_ID must be set (Terraform output emr_application_id)")
            stopped = cancel_runs(aws.client("emr-serverless", settings), cfg.emr_application_id, jobs)
            print(f"cancelled {len(stopped)} job run(s){': ' + ', '.join(stopped) if stopped else ''}")
            return 0
        jars = args.jars.split(",") if args.jars else None
        if args.dry_run and jars is None:
            jars = ["<jars from the bundle>"]
        runs = submit(jobs, settings, cfg, args.dry_run, jars)
    except SettingsError:
        raise  # exit_with: the one line, exit 2
    except Exception as exc:
        from emr_jobs.errors import one_line

        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    for run in runs:
        if args.dry_run:
            print(json.dumps(run))
        else:
            was = f" (replaced {', '.join(run['replaced'])})" if run["replaced"] else ""
            print(f"{run['name']}: job run {run['jobRunId']} (STREAMING){was}")
    return 0


if __name__ == "__main__":
    exit_with(main)
