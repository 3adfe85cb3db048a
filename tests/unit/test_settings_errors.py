"""A setting its model refuses is one line naming the environment variable (never a secret's value), and
every command-line entry point prints that line and exits non-zero instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic_settings import SettingsConfigDict

from emr_jobs.config import SparkSettings
from eventbus.exceptions import ConfigurationError, SettingsError
from eventbus.paths import REPO_ROOT
from eventbus.settings import ComponentSettings, Settings


def test_a_refused_shared_setting_names_its_variable_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_PROFILE", "prod")
    monkeypatch.setenv("EB_KAFKA_LINGER_MS", "soon")
    with pytest.raises(SettingsError) as exc:
        Settings()
    assert str(exc.value) == ("EB_PROFILE='prod' (setting profile): Input should be 'local' or 'aws'; "
                              "EB_KAFKA_LINGER_MS='soon' (setting kafka_linger_ms): Input should be a valid "
                              "integer, unable to parse string as an integer")
    assert isinstance(exc.value, ConfigurationError) and isinstance(exc.value, ValueError)


def test_a_component_setting_names_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_SPARK_TRIGGER_SECONDS", "-5")
    with pytest.raises(SettingsError, match=r"^EB_SPARK_TRIGGER_SECONDS='-5' \(setting trigger_seconds\): "
                                            r"Input should be greater than or equal to 0$"):
        SparkSettings()


def test_the_log_level_is_checked_and_case_does_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EB_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"
    monkeypatch.setenv("EB_LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError, match="EB_LOG_LEVEL='LOUD'"):
        Settings()


def test_a_secret_is_never_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    class TokenSettings(ComponentSettings):
        model_config = SettingsConfigDict(env_prefix="EB_TEST_")
        api_token: int = 0

    monkeypatch.setenv("EB_TEST_API_TOKEN", "hunter2-not-an-int")
    with pytest.raises(SettingsError) as exc:
        TokenSettings()
    assert "hunter2" not in str(exc.value)
    assert str(exc.value).startswith("EB_TEST_API_TOKEN (setting api_token): Input should be a valid integer")


@pytest.mark.parametrize("command", [
    ["emr_jobs", "run", "--jobs", "app_events"],
    ["emr_jobs.submit", "--dry-run"],
    ["lambdas.cdc", "status"],
    ["lambdas.gateway"],
    ["lambdas.simulators", "run", "--duration", "1"],
    ["lambdas.verify"],
    ["lambdas.bootstrap"],
    ["local.console", "peek", "--topic", "topic_app_events"],
    ["local.stack", "status"],
    ["bench.spark", "--events", "10"],
])
def test_every_entry_point_prints_one_line_for_a_refused_setting(command: list[str]) -> None:
    env = {**os.environ, "EB_PROFILE": "bogus"}
    proc = subprocess.run([sys.executable, "-m", *command], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "error: EB_PROFILE='bogus' (setting profile): Input should be 'local' or 'aws'"], proc.stderr


@pytest.mark.parametrize("module", ["emr_jobs", "emr_jobs.submit"])
def test_help_lists_the_jobs_even_when_a_setting_is_refused(module: str) -> None:
    """``--help`` reads no setting (the job names come from the modules' source); the refused setting is
    reported when the command runs."""
    from emr_jobs.jobs import registry

    env = {**os.environ, "EB_PROFILE": "bogus"}
    proc = subprocess.run([sys.executable, "-m", module, *(["run"] if module == "emr_jobs" else []), "--help"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: python -m {module}"), proc.stderr
    assert ",".join(registry(Settings()).names()) in " ".join(proc.stdout.split())


HELP_COMMANDS = ["lambdas.gateway", "lambdas.simulators", "lambdas.verify", "lambdas.bootstrap", "local.console",
                 "local.stack", "local.replay", "bench.spark", "bench.kafka", "bench.gateway", "bench.cdc",
                 "bench.simulators", "bench.spark_rate", "bench.spark_drill", "bench.spark_hostile", "bench.compare"]


@pytest.mark.parametrize("module", HELP_COMMANDS)
def test_help_reads_no_setting(module: str) -> None:
    env = {**os.environ, "EB_PROFILE": "bogus"}
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: python -m {module}"), proc.stderr


def test_a_port_outside_1_to_65535_is_a_usage_error() -> None:
    import argparse

    from eventbus.cli import port_number

    assert port_number("8000") == 8000
    for bad in ("0", "65536", "99999", "http"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a port number"):
            port_number(bad)
    proc = subprocess.run([sys.executable, "-m", "lambdas.gateway", "--port", "99999"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().endswith("99999 is not a port number (1-65535)")


@pytest.mark.parametrize("name", ["EB_SPARK_WATERMARK", "EB_SPARK_STATE_TIMEOUT"])
def test_a_spark_duration_is_checked_where_it_is_set(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The jobs, verify and the bench parse these with eventbus.durations; a unit they don't know is refused by
    the settings model, in one line naming the variable, not later as a KeyError inside a job."""
    monkeypatch.setenv(name, "10 parsecs")
    with pytest.raises(SettingsError) as exc:
        SparkSettings()
    assert str(exc.value).startswith(f"{name}='10 parsecs' (setting ")
    assert str(exc.value).endswith("is not a duration: expected '<number> <unit>', unit one of second(s), "
                                   "minute(s), hour(s), day(s) (e.g. '10 minutes')")
