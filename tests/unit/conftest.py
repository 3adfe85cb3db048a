"""Unit tests: no services. AWS APIs are moto in-process; nothing else is mocked."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from eventbus.settings import Settings
from lambdas.gateway.config import GatewayConfig
from lambdas.gateway.ingest import Gateway
from tests.support.gateway import mock_cluster_gateway


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


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    """A real Gateway whose librdkafka producer is acknowledged by librdkafka's in-process mock cluster."""
    gw = mock_cluster_gateway(settings, GatewayConfig(max_batch_events=50, max_event_bytes=4096))
    yield gw
    gw.close()


@pytest.fixture
def client(gateway: Gateway) -> Iterator[Any]:
    """The gateway's FastAPI app around ``gateway``, in a TestClient (lifespan run)."""
    from fastapi.testclient import TestClient

    from lambdas.gateway.app import create_app

    with TestClient(create_app(gateway=gateway)) as c:
        yield c


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A small local SparkSession for the pure-transform tests (createDataFrame data, seconds).

    With the connector jars: the first session of a test process fixes the JVM's classpath, and the
    wire tests' ``from_avro`` needs spark-avro on it.
    """
    from pyspark.sql import SparkSession

    from emr_jobs.config import SparkSettings
    from emr_jobs.session import connector_jars

    # pandas UDFs (the state folds) run in Python workers: this interpreter, with pyarrow (as build_session)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    s = (SparkSession.builder.master("local[1]").appName("unit-spark")
         .config("spark.jars", ",".join(connector_jars(SparkSettings())))
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "1")
         .config("spark.sql.session.timeZone", "UTC").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.driver.host", "127.0.0.1").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
