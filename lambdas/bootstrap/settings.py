"""The bootstrap's own settings (``EB_BOOTSTRAP_*``): what only the bootstrap reads. How it reaches Kafka,
the registry and PostgreSQL is the shared ``eventbus.settings.Settings``::

    >>> from lambdas.bootstrap.settings import BootstrapSettings
    >>> BootstrapSettings().pg_secret_name, BootstrapSettings().pg_replication_secret_arn
    ('travel/oltp', None)

In AWS Terraform sets the secret ARNs on the bootstrap Lambda (infra/main.tf); locally none is set.
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from eventbus.settings import ComponentSettings


class BootstrapSettings(ComponentSettings):
    """``EB_BOOTSTRAP_*``: set by Terraform on the bootstrap Lambda."""

    model_config = SettingsConfigDict(env_prefix="EB_BOOTSTRAP_")

    #: Secret of the CDC relay's replication role (JSON username/password); the bootstrap creates the role
    #: with ``rds_replication`` and SELECT. Unset = no such role (e.g. the local stack).
    pg_replication_secret_arn: str | None = None
    #: Secret of the OLTP workload's login role (JSON username/password); the bootstrap creates the role
    #: with DML on the OLTP tables only. Unset = no such role.
    app_secret_arn: str | None = None
    #: Secret of the DAGs' login role (MWAA); the bootstrap creates it with SELECT on the tables the DAGs
    #: query only. Unset = no such role.
    dags_secret_arn: str | None = None
    #: Local profile only: name of the DB secret the bootstrap creates in the AWS emulator (Terraform owns
    #: the secrets in AWS).
    pg_secret_name: str = "travel/oltp"
    #: Local profile only: the artifacts bucket it creates in the emulator beside the shared lake and
    #: checkpoint buckets (in AWS Terraform creates it and `make deploy` uploads to it; no workload reads it).
    artifacts_bucket: str = "travel-artifacts"
