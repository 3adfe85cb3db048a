"""Unit tests: no services. AWS APIs are moto in-process; nothing else is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from eventbus.settings import Settings


@pytest.fixture
def aws_mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture
def settings(aws_mock: None) -> Settings:
    """Local-profile settings whose AWS clients hit moto in-process (empty endpoint = boto default)."""
    return Settings(profile="local", aws_endpoint_url="", registry_name="unit-test-registry")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A small local SparkSession for the pure-transform tests (createDataFrame data, seconds).

    With the connector jars: the first session of a test process fixes the JVM's classpath, and the
    wire tests' ``from_avro`` needs spark-avro on it.
    """
    from pyspark.sql import SparkSession

    from emr_jobs.config import SparkSettings
    from emr_jobs.session import connector_jars

    s = (SparkSession.builder.master("local[1]").appName("unit-spark")
         .config("spark.jars", ",".join(connector_jars(SparkSettings())))
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
         .config("spark.sql.session.timeZone", "UTC").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.driver.host", "127.0.0.1").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
