"""EMR Serverless: the job bundle (`make package`) and `python -m emr_jobs.submit` against moto.

moto's emr-serverless accepts StartJobRun but keeps neither ``mode`` nor ``retryPolicy`` (its JobRun has
no such fields), so those two are checked on the request botocore validated and sent, captured with a
botocore event hook; what moto stores (driver, entry point, role) is read back with GetJobRun.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from emr_jobs.config import AWS_TRIGGER_SECONDS, CAP_EVENTS_PER_S, SparkSettings
from emr_jobs.errors import JobError
from emr_jobs.jobs import registry
from emr_jobs.submit import LAKE_ZONE, SIZING, job_run_request, submit
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
    assert shlex.split(driver["sparkSubmitParameters"]) == [
        "--py-files", "s3://artifacts/emr/pyfiles.zip",
        "--jars", "s3://artifacts/emr/jars/aws-msk-iam-auth-2.3.2-all.jar,"
                  "s3://artifacts/emr/jars/spark-sql-kafka-0-10_2.12-3.5.7.jar"]
    conf = spark_defaults(sent[0])
    assert conf["spark.emr-serverless.driverEnv.EB_KAFKA_AUTH"] == "iam"
    assert conf["spark.emr-serverless.driverEnv.EB_SPARK_CHECKPOINT_ROOT"] == "s3://travel-checkpoints/spark"
    # the Python deps archive (make package: dist/emr/deps.tar.gz) unpacked to ./deps on PYTHONPATH, on python3.11
    assert conf["spark.archives"] == "s3://artifacts/emr/deps.tar.gz#deps"
    assert conf["spark.emr-serverless.driverEnv.PYTHONPATH"] == conf["spark.executorEnv.PYTHONPATH"] == "./deps"
    assert conf["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] == "/usr/bin/python3.11"
    assert conf["spark.executorEnv.PYSPARK_PYTHON"] == "/usr/bin/python3.11"
    assert got["executionRole"] == cfg.emr_execution_role_arn


def spark_defaults(request: dict[str, Any]) -> dict[str, str]:
    (classification,) = request["configurationOverrides"]["applicationConfiguration"]
    assert classification["classification"] == "spark-defaults"
    return dict(classification["properties"])


def test_job_run_on_the_aws_profile_has_no_local_master(emr: tuple[Settings, SparkSettings, Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's environment from the request, read back by the job's own settings: no master (EMR sets it)."""
    settings, cfg, _ = emr
    request = job_run_request("booking_state", settings, cfg, ["a.jar"])
    conf = spark_defaults(request)
    assert not any(k == "spark.master" or "local[" in v for k, v in conf.items())
    assert "local[" not in request["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    for key in list(__import__("os").environ):
        if key.startswith("EB_"):
            monkeypatch.delenv(key)
    prefix = "spark.emr-serverless.driverEnv."
    for key, value in conf.items():
        if key.startswith(prefix):
            monkeypatch.setenv(key.removeprefix(prefix), value)
    from eventbus.settings import get_settings

    get_settings.cache_clear()
    try:
        driver = SparkSettings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' init-only argument
        assert driver.master is None
        assert driver.watermark == cfg.watermark == "10 minutes"  # whole, spaces and all
    finally:
        get_settings.cache_clear()


def test_settings_with_spaces_reach_spark_whole(emr: tuple[Settings, SparkSettings, Any]) -> None:
    settings, cfg, _ = emr
    cfg = cfg.model_copy(update={"watermark": "15 minutes", "emr_code_uri": "s3://artifacts/emr"})
    request = job_run_request("app_events", settings, cfg, ["a.jar"])
    conf = spark_defaults(request)
    assert conf["spark.emr-serverless.driverEnv.EB_SPARK_WATERMARK"] == "15 minutes"
    assert conf["spark.executorEnv.EB_SPARK_WATERMARK"] == "15 minutes"
    # nothing unquoted with a space in the space-separated parameters
    assert len(shlex.split(request["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"])) == 4


def test_every_job_setting_the_submitter_sets_reaches_the_driver_and_executors(
        emr: tuple[Settings, SparkSettings, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A job run reads its EB_SPARK_* from the environment EMR gives it: each one the submitter set (here the
    ones that change what the jobs compute) must arrive, so the run computes what verify expects."""
    from emr_jobs.submit import NOT_PASSED_SPARK

    settings, cfg, _ = emr
    chosen = {"state_timeout": "7 days", "window_minutes": 15, "click_window_minutes": 20, "click_slide_minutes": 10,
              "heatmap_grid": 12, "fail_on_data_loss": False, "starting_offsets": "latest",
              "max_offsets_per_trigger": 12345, "kafka_fetch_max_wait_ms": 50, "rocksdb_block_cache_mb": 16}
    cfg = cfg.model_copy(update=chosen)
    conf = spark_defaults(job_run_request("app_events", settings, cfg, ["a.jar"]))
    driver = {k.removeprefix("spark.emr-serverless.driverEnv."): v for k, v in conf.items()
              if k.startswith("spark.emr-serverless.driverEnv.")}
    executor = {k.removeprefix("spark.executorEnv."): v for k, v in conf.items() if k.startswith("spark.executorEnv.")}
    driver = {k: v for k, v in driver.items() if k.startswith("EB_")}
    assert {k: v for k, v in executor.items() if k.startswith("EB_")} == driver
    for name in list(os.environ):
        if name.startswith("EB_"):
            monkeypatch.delenv(name)
    for name, value in driver.items():
        monkeypatch.setenv(name, value)
    seen = SparkSettings()  # what the driver builds from that environment
    assert {f: getattr(seen, f) for f in chosen} == chosen
    assert not set(chosen) & NOT_PASSED_SPARK


def test_a_derived_default_is_not_passed_as_if_it_were_set(emr: tuple[Settings, SparkSettings, Any]) -> None:
    """The offsets cap follows the trigger interval unless set: the run derives its own (30-s triggers on EMR)."""
    settings, cfg, _ = emr
    assert "max_offsets_per_trigger" not in cfg.model_fields_set
    conf = spark_defaults(job_run_request("app_events", settings, cfg, ["a.jar"]))
    assert "spark.emr-serverless.driverEnv.EB_SPARK_MAX_OFFSETS_PER_TRIGGER" not in conf


def capacity(value: str) -> float:
    """'16 vCPU' / '64 GB' (infra/variables.tf defaults) -> 16 / 64."""
    return float(re.match(r"\s*([0-9.]+)", value).group(1))  # type: ignore[union-attr]


def tf_default(name: str) -> str:
    text = (REPO / "infra" / "variables.tf").read_text()
    block = text[text.index(f'variable "{name}"'):]
    return re.search(r'default\s*=\s*"([^"]+)"', block).group(1)  # type: ignore[union-attr]


def _worker(conf: dict[str, str], role: str) -> tuple[int, float]:
    """(vCPU, GB) of a driver/executor worker: its cores, and Spark memory + overhead."""
    memory = sum(float(conf[f"spark.{role}.{k}"].removesuffix("g")) for k in ("memory", "memoryOverhead"))
    return int(conf[f"spark.{role}.cores"]), memory


def test_every_job_run_fits_the_application_cap_together(emr: tuple[Settings, SparkSettings, Any]) -> None:
    """All streaming jobs run at once: the sum of their explicit workers stays within the application's
    maximum capacity (infra/variables.tf emr_max_cpu / emr_max_memory), each worker a size EMR offers."""
    settings, cfg, _ = emr
    vcpu = memory = 0.0
    jobs = registry().names()
    for job in jobs:
        conf = spark_defaults(job_run_request(job, settings, cfg, ["a.jar"]))
        assert conf["spark.dynamicAllocation.enabled"] == "false"
        workers = [_worker(conf, "driver")] + [_worker(conf, "executor")] * int(conf["spark.executor.instances"])
        for cores, mem in workers:  # EMR Serverless worker sizes (user guide, "Supported worker configurations")
            low, high = {1: (2, 8), 2: (4, 16), 4: (8, 30)}[cores]
            assert low <= mem <= high and mem == int(mem), (job, cores, mem)
        vcpu += sum(c for c, _ in workers)
        memory += sum(m for _, m in workers)
    assert (vcpu, memory) == (len(jobs) * SIZING.vcpu(), len(jobs) * SIZING.memory_gb())
    assert vcpu <= capacity(tf_default("emr_max_cpu")), f"{vcpu} vCPU > the application's cap"
    assert memory <= capacity(tf_default("emr_max_memory")), f"{memory} GB > the application's cap"


def test_rocksdb_state_with_changelog_checkpointing(emr: tuple[Settings, SparkSettings, Any]) -> None:
    settings, cfg, _ = emr
    conf = spark_defaults(job_run_request("user_state", settings, cfg, ["a.jar"]))
    assert conf["spark.sql.streaming.stateStore.providerClass"].endswith("RocksDBStateStoreProvider")
    assert conf["spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled"] == "true"


def test_lake_root_is_the_zone_iam_and_lifecycle_cover(emr: tuple[Settings, SparkSettings, Any]) -> None:
    settings, cfg, _ = emr
    conf = spark_defaults(job_run_request("lake", settings, cfg, ["a.jar"]))
    assert conf["spark.emr-serverless.driverEnv.EB_SPARK_LAKE_ROOT"] == f"s3://{settings.lake_bucket}/{LAKE_ZONE}"
    storage = (REPO / "infra" / "modules" / "storage" / "main.tf").read_text()
    emr_tf = (REPO / "infra" / "modules" / "emr" / "main.tf").read_text()
    assert re.search(rf'prefix\s*=\s*(local\.zones\.{LAKE_ZONE}|"{LAKE_ZONE}/")', storage)
    assert "var.lake_write_prefix" in emr_tf


def test_job_runs_log_to_the_terraform_log_group(emr: tuple[Settings, SparkSettings, Any]) -> None:
    settings, cfg, _ = emr
    cfg = cfg.model_copy(update={"emr_log_group": "/aws/emr-serverless/travel-ds"})
    request = job_run_request("clickstream", settings, cfg, ["a.jar"])
    logging = request["configurationOverrides"]["monitoringConfiguration"]["cloudWatchLoggingConfiguration"]
    assert logging == {"enabled": True, "logGroupName": "/aws/emr-serverless/travel-ds",
                       "logStreamNamePrefix": "clickstream"}


def _streaming(app_id: str) -> None:
    """moto finishes every job run at once (SUCCESS); a streaming run in AWS keeps RUNNING until cancelled."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.emrserverless.models import emrserverless_backends

    for run in emrserverless_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].job_runs.get(app_id, []):
        if run.state == "SUCCESS":
            run.state = "RUNNING"


def test_a_redeploy_replaces_the_running_runs(emr: tuple[Settings, SparkSettings, Any]) -> None:
    settings, cfg, client = emr
    assert cfg.emr_application_id
    first = submit(["app_events", "lake"], settings, cfg)
    _streaming(cfg.emr_application_id)
    second = submit(["app_events", "lake"], settings, cfg)
    _streaming(cfg.emr_application_id)
    assert [r["replaced"] for r in second] == [[first[0]["jobRunId"]], [first[1]["jobRunId"]]]
    states = {r["id"]: r["state"] for r in client.list_job_runs(applicationId=cfg.emr_application_id)["jobRuns"]}
    assert states[first[0]["jobRunId"]] == states[first[1]["jobRunId"]] == "CANCELLED"
    assert all(states[r["jobRunId"]] != "CANCELLED" for r in second)
    assert len([s for s in states.values() if s != "CANCELLED"]) == 2  # replaced, not added


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


def test_the_kafka_source_does_not_let_the_broker_hold_its_fetches() -> None:
    """Spark's consumer asks for the offset range after every poll; with the client's 500 ms
    fetch.max.wait.ms that request waited behind the pipelined fetch at the end of every task's range."""
    from emr_jobs.streams import JobContext, sink_options, source_options

    aws = Settings(profile="aws", kafka_bootstrap="b-1.msk:9098")
    opts = source_options(aws, SparkSettings(master="local[2]", kafka_fetch_max_wait_ms=25))
    assert opts["kafka.fetch.max.wait.ms"] == "25"
    assert opts["kafka.sasl.mechanism"] == "AWS_MSK_IAM"  # the connection options are still there
    assert SparkSettings(master="local[2]").kafka_fetch_max_wait_ms == 10
    assert "kafka.fetch.max.wait.ms" not in sink_options(aws)  # a consumer setting: not the producer's

    given: dict[str, str] = {}

    class Reader:  # records what JobContext.raw hands Spark's DataStreamReader
        def format(self, name: str) -> Reader:
            assert name == "kafka"
            return self

        def options(self, **kw: str) -> Reader:
            given.update(kw)
            return self

        def option(self, key: str, value: str) -> Reader:
            given[key] = value
            return self

        def load(self) -> dict[str, str]:
            return given

    spark = type("Spark", (), {"readStream": Reader()})()
    ctx = JobContext(spark, Settings(profile="local"), SparkSettings(master="local[2]", kafka_fetch_max_wait_ms=7),
                     codec=None)  # type: ignore[arg-type]
    ctx.raw("topic_app_events")
    assert given["kafka.fetch.max.wait.ms"] == "7" and given["subscribe"] == "topic_app_events"


def test_submit_without_application_says_what_to_set(settings: Settings) -> None:
    with pytest.raises(JobError, match="EB_EMR_APPLICATION_ID"):
        job_run_request("lake", settings, SparkSettings(emr_application_id=None), ["a.jar"])


def test_emr_env_names_shared_with_the_eventbus_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_EMR_APPLICATION_ID", "00abc")
    monkeypatch.setenv("EB_EMR_EXECUTION_ROLE_ARN", "arn:aws:iam::1:role/x")
    cfg = SparkSettings()
    assert (cfg.emr_application_id, cfg.emr_execution_role_arn) == ("00abc", "arn:aws:iam::1:role/x")


@pytest.mark.parametrize(("profile", "env", "expected"), [
    ("local", None, 10.0),           # the console's windows move every 10 s
    ("aws", None, AWS_TRIGGER_SECONDS),  # a longer interval spreads the dedup eviction scan (config.py)
    ("aws", "10", 10.0),             # a value that was set wins on either profile
    ("local", "45", 45.0),
])
def test_trigger_interval_defaults_by_profile(monkeypatch: pytest.MonkeyPatch, profile: str, env: str | None,
                                              expected: float) -> None:
    from eventbus.settings import get_settings

    monkeypatch.setenv("EB_PROFILE", profile)
    if env is None:
        monkeypatch.delenv("EB_SPARK_TRIGGER_SECONDS", raising=False)
    else:
        monkeypatch.setenv("EB_SPARK_TRIGGER_SECONDS", env)
    get_settings.cache_clear()
    try:
        cfg = SparkSettings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' init-only argument
    finally:
        get_settings.cache_clear()
    assert cfg.trigger_seconds == expected
    assert (cfg.master is None) == (profile == "aws")
    # the default cap follows the interval: 100k events/s live with 2x headroom, whatever the interval
    assert cfg.max_offsets_per_trigger == CAP_EVENTS_PER_S * max(expected, 10.0)
    assert cfg.max_offsets_per_trigger / max(expected, 10.0) >= 2 * 100_000


def test_an_explicit_offsets_cap_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_SPARK_TRIGGER_SECONDS", "30")
    monkeypatch.setenv("EB_SPARK_MAX_OFFSETS_PER_TRIGGER", "0")
    assert SparkSettings(_env_file=None).max_offsets_per_trigger == 0  # type: ignore[call-arg]
    monkeypatch.delenv("EB_SPARK_MAX_OFFSETS_PER_TRIGGER")
    # a short interval keeps the 10-s floor of the cap (2M), not 200k x 1 s
    assert SparkSettings(_env_file=None, trigger_seconds=1).max_offsets_per_trigger == 2_000_000  # type: ignore[call-arg]


def test_the_submitted_run_carries_the_trigger_interval(emr: tuple[Settings, SparkSettings, Any]) -> None:
    settings, cfg, _ = emr
    cfg = cfg.model_copy(update={"trigger_seconds": AWS_TRIGGER_SECONDS})
    conf = spark_defaults(job_run_request("app_events", settings, cfg, ["a.jar"]))
    assert float(conf["spark.emr-serverless.driverEnv.EB_SPARK_TRIGGER_SECONDS"]) == AWS_TRIGGER_SECONDS


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
    assert {f"{job.module.replace('.', '/')}.py" for job in registry()} <= set(names)  # every @job module ships
