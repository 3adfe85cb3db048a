"""Unit tests: no services. AWS APIs are moto in-process; nothing else is mocked."""

from __future__ import annotations

from collections.abc import Iterator

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
