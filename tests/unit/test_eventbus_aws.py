"""AWS clients: the emulator through localstack-client's session locally (with the one set of dummy
credentials), boto3's defaults and credential chain in AWS."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from eventbus import aws
from eventbus.exceptions import ConfigurationError
from eventbus.settings import Settings


def test_local_profile_reaches_the_configured_emulator() -> None:
    client = aws.client("secretsmanager", Settings(profile="local", aws_endpoint_url="http://127.0.0.1:4599"))
    assert client.meta.endpoint_url == "http://127.0.0.1:4599" and client.meta.region_name == "us-east-1"
    assert aws.client("glue", Settings(profile="local")).meta.endpoint_url == "http://127.0.0.1:4566"


def test_aws_profile_uses_the_real_endpoints() -> None:
    client = aws.client("glue", Settings(profile="aws", aws_region="eu-west-1"))
    assert client.meta.endpoint_url == "https://glue.eu-west-1.amazonaws.com"


def test_a_malformed_emulator_url_says_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="EB_AWS_ENDPOINT_URL"):
        aws.client("s3", Settings(profile="local", aws_endpoint_url="127.0.0.1:4566"))


def test_the_emulator_gets_the_one_set_of_dummy_credentials_and_aws_gets_the_chain(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-chain")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-chain")
    # boto3's default session keeps the credentials it first resolved: an earlier test's would win
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    local = aws.client("glue", Settings(profile="local"))
    assert local._request_signer._credentials.access_key == aws.EMULATOR_CREDENTIALS["aws_access_key_id"]
    for settings in (Settings(profile="aws"), Settings(profile="local", aws_endpoint_url="")):
        assert aws.client("glue", settings)._request_signer._credentials.access_key == "from-the-chain"


def test_a_botocore_config_reaches_both_paths() -> None:
    config = Config(read_timeout=2, connect_timeout=3)
    for settings in (Settings(profile="local"), Settings(profile="aws")):
        got = aws.client("glue", settings, config=config).meta.config
        assert (got.read_timeout, got.connect_timeout) == (2, 3)
