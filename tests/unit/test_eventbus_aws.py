"""AWS clients: the emulator through localstack-client's session locally, boto3's defaults in AWS."""

from __future__ import annotations

import pytest

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
