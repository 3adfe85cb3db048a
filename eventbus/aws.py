"""boto3 clients that point at the local emulator in the local profile and at AWS otherwise."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from eventbus.exceptions import ConfigurationError

if TYPE_CHECKING:  # settings.py imports this module (pg_dsn reads the DB secret): no import back
    from eventbus.settings import Settings


#: The credentials the local emulator is given: moto server and LocalStack accept any, so these are not
#: secrets. Used on the emulator path only — the local profile with an endpoint (``EB_AWS_ENDPOINT_URL``,
#: default http://127.0.0.1:4566). Everywhere else (the aws profile, an empty endpoint) boto3's own
#: credential chain applies.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def client(service: str, settings: Settings, config: Config | None = None) -> Any:
    """A boto3 client for ``service``: real AWS in the aws profile; locally, the emulator at
    ``aws_endpoint_url`` through localstack-client's session (LocalStack's edge layout, which the bundled
    moto server serves on the same port) with ``EMULATOR_CREDENTIALS``. ``config``: botocore's
    timeouts/retries (the console bounds every call by its deadline)."""
    extra: dict[str, Any] = {} if config is None else {"config": config}
    if settings.profile == "local" and settings.aws_endpoint_url:
        return _local_session(settings.aws_endpoint_url, settings.aws_region).client(service, **extra)
    return boto3.client(service, **settings.aws_client_kwargs(), **extra)  # type: ignore[call-overload]


@lru_cache(maxsize=8)
def _local_session(endpoint_url: str, region: str) -> Any:
    try:
        from localstack_client.session import Session
    except ImportError:
        raise ConfigurationError("the local profile needs localstack-client (a core dependency) — pip install "
                                 "travel-data-sources (or `make install`)") from None

    url = urlparse(endpoint_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigurationError(f"EB_AWS_ENDPOINT_URL={endpoint_url!r} is not http(s)://host:port — "
                                 "e.g. http://127.0.0.1:4566")
    if url.scheme == "https":
        os.environ.setdefault("USE_SSL", "true")  # how localstack-client chooses https
    port = url.port or (443 if url.scheme == "https" else 80)
    return Session(region_name=region, localstack_host=f"{url.hostname}:{port}", **EMULATOR_CREDENTIALS)


def secret_string(settings: Settings, secret_id: str) -> str:
    """The ``SecretString`` of a Secrets Manager secret (never logged)."""
    return str(client("secretsmanager", settings).get_secret_value(SecretId=secret_id)["SecretString"])


def key_list(text: str) -> list[str]:
    """A secret holding API keys: a JSON list of non-empty strings (or ``{"keys": [...]}``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"API key secret is not JSON (expected a list of strings): {exc}") from None
    if isinstance(value, dict):
        value = value.get("keys")
    if not isinstance(value, list) or not all(isinstance(k, str) and k for k in value):
        raise ConfigurationError('API key secret must be a JSON list of non-empty strings, e.g. ["k1", "k2"]')
    return value


def secret_json(settings: Settings, secret_id: str) -> Any:
    """A secret holding JSON (RDS-style ``{"username", "password", ...}``, a list of API keys, ...)."""
    return json.loads(secret_string(settings, secret_id))
