"""boto3 clients that point at the local emulator in the local profile and at AWS otherwise."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:  # settings.py imports this module (pg_dsn reads the DB secret): no import back
    from eventbus.settings import Settings


def client(service: str, settings: Settings) -> Any:
    """A boto3 client for ``service``; locally it talks to the emulator with dummy credentials."""
    kwargs: dict[str, Any] = dict(settings.aws_client_kwargs())
    if settings.profile == "local" and not os.environ.get("AWS_ACCESS_KEY_ID"):
        # The emulator accepts any credentials; these are not secrets.
        kwargs.update(aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


def secret_string(settings: Settings, secret_id: str) -> str:
    """The ``SecretString`` of a Secrets Manager secret (never logged)."""
    return str(client("secretsmanager", settings).get_secret_value(SecretId=secret_id)["SecretString"])


def secret_json(settings: Settings, secret_id: str) -> Any:
    """A secret holding JSON (RDS-style ``{"username", "password", ...}``, a list of API keys, ...)."""
    return json.loads(secret_string(settings, secret_id))
