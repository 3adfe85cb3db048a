"""API keys: configuration or Secrets Manager (moto in-process), constant-time check, rotation."""

from __future__ import annotations

import json

import boto3
import pytest
from pydantic import SecretStr

from eventbus.aws import key_list as parse_secret
from eventbus.exceptions import ConfigurationError
from eventbus.settings import Settings
from lambdas.gateway.auth import ApiKeys


def test_keys_from_settings() -> None:
    keys = ApiKeys.from_settings(Settings(profile="local", gateway_api_keys=SecretStr(" k1 , k2,,")))
    assert len(keys) == 2
    assert keys.check("k1") and keys.check("k2")
    assert not keys.check("k3") and not keys.check("") and not keys.check(None) and not keys.check("k1 ")


def test_keys_from_secrets_manager_and_rotation(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="gateway/api-keys", SecretString=json.dumps(["alpha", "beta"]))["ARN"]
    cfg = settings.model_copy(update={"gateway_api_keys_secret_arn": arn})
    keys = ApiKeys.from_settings(cfg, refresh_s=60)
    assert keys.check("alpha") and keys.check("beta") and not keys.check("local-dev-key")

    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"keys": ["gamma"]}))
    assert keys.check("alpha")  # cached until the refresh interval passes
    clock = [1e6]
    monkeypatch.setattr("lambdas.gateway.auth.time.monotonic", lambda: clock[0])
    keys._loaded_at = clock[0] - 61
    assert keys.check("gamma") and not keys.check("alpha")

    sm.put_secret_value(SecretId=arn, SecretString="not json")
    clock[0] += 61
    assert keys.check("gamma")  # a broken rotation keeps the previous keys


@pytest.mark.parametrize("text", ["{}", '"k"', "[1]", '[""]', "nope"])
def test_bad_secret_is_a_configuration_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="JSON"):
        parse_secret(text)


def test_no_keys_means_nobody_gets_in() -> None:
    keys = ApiKeys(lambda: [])
    assert len(keys) == 0 and not keys.check("anything")
