"""The shared connection settings, and the base of every component's own settings model.

``Settings`` holds what more than one deployable needs to reach the shared services (Kafka, AWS, the
registry, the buckets, PostgreSQL, the gateway) from environment variables prefixed ``EB_`` (and a
``.env`` file locally). Terraform passes the same names to Lambda, ECS, EMR and MWAA, so one model
serves both profiles::

    >>> from eventbus.settings import Settings
    >>> s = Settings(profile="local")
    >>> s.kafka_bootstrap
    '127.0.0.1:9092'

A component's own knobs live in the component, in a ``ComponentSettings`` subclass with its own prefix
(``lambdas/gateway/config.py``: ``EB_GATEWAY_*``; ``lambdas/cdc/settings.py``: ``EB_CDC_*``)::

    >>> class SparkSettings(ComponentSettings):
    ...     model_config = SettingsConfigDict(env_prefix="EB_SPARK_")
    ...     trigger_s: float = 5.0
    >>> SparkSettings().trigger_s
    5.0
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventbus.exceptions import SettingsError
from eventbus.paths import REPO_ROOT

LOCAL_AWS_ENDPOINT = "http://127.0.0.1:4566"
#: Amazon RDS CA certificates (provenance in the file): what ``pg_sslmode = verify-full`` trusts by default.
RDS_CA_BUNDLE = Path(__file__).resolve().parent / "certs" / "rds-ca-bundle.pem"


#: Settings whose value is never repeated in an error message.
_SECRET_NAME = re.compile(r"secret|password|token|api_key|credential", re.IGNORECASE)


def _init_one_line_errors(self: BaseSettings, **values: Any) -> None:
    """``__init__`` of ``Settings`` and ``ComponentSettings``: a refused setting raises ``SettingsError``, one
    line per bad setting naming its environment variable, the value (unless secret) and what the model
    takes, instead of pydantic's multi-line report."""
    try:
        BaseSettings.__init__(self, **values)
    except ValidationError as exc:
        raise settings_error(type(self), exc) from None


def settings_error(model: type[BaseSettings], exc: ValidationError) -> SettingsError:
    names = env_names(model)
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        shown = "" if not field or _SECRET_NAME.search(field) or err["type"] == "missing" else f"={err['input']!r}"
        where = f"{names[field]}{shown} (setting {field})" if field in names else model.__name__
        problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return SettingsError("; ".join(problems))


class ComponentSettings(BaseSettings):
    """Base of a component's settings model: the same ``.env`` file, unknown variables ignored.

    Subclasses set ``model_config = SettingsConfigDict(env_prefix="EB_<COMPONENT>_")``; pydantic merges
    it with this one. ``tests/unit/test_catalog.py`` finds every subclass and keeps ``.env.example``
    in step with it.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")
    __init__ = _init_one_line_errors


def env_names(model: type[BaseSettings]) -> dict[str, str]:
    """Field name -> the environment variable that sets it: prefix + name, upper case, or the field's
    ``validation_alias`` (its first choice) when it has one — pydantic-settings reads that name instead."""
    prefix = str(model.model_config.get("env_prefix") or "")
    out = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            alias = next((c for c in alias.choices if isinstance(c, str)), None)
        out[name] = alias.upper() if isinstance(alias, str) else (prefix + name).upper()
    return out


class Settings(BaseSettings):
    """Connection settings shared by the gateway, simulators, CDC relay, bootstrap, Spark jobs and DAGs: only
    what several components read. What one component reads lives in its own model (the bootstrap's secrets:
    ``lambdas/bootstrap/settings.py``; the EMR application and role: ``emr_jobs/config.py``)."""

    model_config = SettingsConfigDict(
        env_prefix="EB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )
    __init__ = _init_one_line_errors

    profile: Literal["local", "aws"] = "local"

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    #: ``plaintext`` locally; ``iam`` = SASL_SSL + OAUTHBEARER with an MSK IAM token (aws profile).
    kafka_auth: Literal["plaintext", "iam"] | None = None
    #: MSK Serverless accepts only a few topic configs (cleanup.policy, retention.*, ...): the catalog's
    #: other tuning keys are left out there.
    kafka_serverless: bool = False
    kafka_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    kafka_linger_ms: int = Field(default=5, ge=0, le=1000)
    #: How long a produce may wait for the broker before it counts as failed (delivery.timeout.ms).
    kafka_delivery_timeout_ms: int = Field(default=120_000, ge=1_000)

    # --- AWS ---------------------------------------------------------------------------------
    aws_region: str = "us-east-1"
    #: Local AWS emulator (moto server / LocalStack). ``None`` in the aws profile = real endpoints.
    aws_endpoint_url: str | None = None
    registry_name: str = "travel-events"
    #: Topic catalog (YAML); the schemas live beside it.
    catalog_path: Path = REPO_ROOT / "schemas" / "topics.yaml"

    # --- Buckets -----------------------------------------------------------------------------
    lake_bucket: str = "travel-lake"
    checkpoint_bucket: str = "travel-checkpoints"

    # --- PostgreSQL (OLTP + CDC source) ----------------------------------------------------
    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_database: str = "travel"
    pg_user: str = "travel"
    pg_password: SecretStr = SecretStr("travel")
    #: In AWS the credentials come from this Secrets Manager secret (JSON: username, password).
    pg_secret_arn: str | None = None
    #: libpq sslmode; unset = libpq's default. Terraform sets ``verify-full`` (TLS and the server's name
    #: checked against the CA bundle): Aurora forces TLS, but only verification stops an impostor.
    pg_sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    #: CA bundle for ``verify-ca``/``verify-full``; unset = the RDS CA certificates shipped in eventbus/certs/.
    pg_sslrootcert: Path | None = None

    # --- Gateway (how its clients reach it; its own limits: lambdas/gateway/config.py) ---------
    gateway_url: str = "http://127.0.0.1:8000"
    #: Comma-separated API keys (local); in AWS, ``gateway_api_keys_secret_arn`` (JSON list).
    gateway_api_keys: SecretStr = SecretStr("local-dev-key")
    gateway_api_keys_secret_arn: str | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = True

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _profile_defaults(self) -> Settings:
        if self.kafka_auth is None:
            self.kafka_auth = "iam" if self.profile == "aws" else "plaintext"
        if self.profile == "local" and self.aws_endpoint_url is None:
            self.aws_endpoint_url = LOCAL_AWS_ENDPOINT
        return self

    # --- derived helpers ---------------------------------------------------------------------
    def aws_client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client`` that point at the emulator locally."""
        kwargs = {"region_name": self.aws_region}
        if self.aws_endpoint_url:
            kwargs["endpoint_url"] = self.aws_endpoint_url
        return kwargs

    def gateway_keys(self) -> list[str]:
        """The gateway's API keys — what it accepts and what its clients send: the Secrets Manager secret
        ``gateway_api_keys_secret_arn`` (a JSON list) when set, else ``gateway_api_keys`` (comma-separated).
        Read on every call (rotation)."""
        if self.gateway_api_keys_secret_arn:
            from eventbus.aws import key_list, secret_string

            return key_list(secret_string(self, self.gateway_api_keys_secret_arn))
        return [k.strip() for k in self.gateway_api_keys.get_secret_value().split(",") if k.strip()]

    def pg_dsn(self) -> str:
        """libpq DSN; in AWS the user/password come from Secrets Manager."""
        user, password = self.pg_user, self.pg_password.get_secret_value()
        if self.pg_secret_arn:
            from eventbus.aws import secret_json

            secret = secret_json(self, self.pg_secret_arn)
            user, password = secret["username"], secret["password"]
        dsn = (
            f"host={self.pg_host} port={self.pg_port} dbname={self.pg_database} "
            f"user={user} password={password} connect_timeout=5"
        )
        if self.pg_sslmode:
            dsn += f" sslmode={self.pg_sslmode}"
            if self.pg_sslmode.startswith("verify-"):
                dsn += f" sslrootcert={self.pg_sslrootcert or RDS_CA_BUNDLE}"
        return dsn


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once from the environment."""
    return Settings()
