"""Secrets a source declares by name (``auth.secret`` in config/sources.yaml), resolved in this order:

1. the environment: ``EB_DAGS_SECRET_<NAME>`` (upper case, ``-`` → ``_``), e.g. ``EB_DAGS_SECRET_BLUESKY_APP_PASSWORD``;
2. a file ``<EB_DAGS_SECRETS_DIR>/<name>`` (local: a file only you can read, never committed);
3. Secrets Manager: the secret ``<EB_DAGS_SECRET_PREFIX><name>`` (in AWS the MWAA role may read only those;
   Terraform creates them empty — put the value with ``aws secretsmanager put-secret-value``).

    >>> import os; os.environ["EB_DAGS_SECRET_DEMO"] = "s3cr3t"
    >>> resolve_secret("demo", DagSettings())
    's3cr3t'
"""

from __future__ import annotations

import os

from extdata.exceptions import ConfigError
from extdata.settings import DagSettings


def env_name(name: str) -> str:
    return "EB_DAGS_SECRET_" + name.upper().replace("-", "_")


def resolve_secret(name: str, settings: DagSettings) -> str:
    value = os.environ.get(env_name(name))
    if value:
        return value
    if settings.secrets_dir is not None:
        path = settings.secrets_dir / name
        if path.is_file():
            return path.read_text().strip()
    secret_id = settings.secret_prefix + name
    try:
        from eventbus.aws import client
        from eventbus.settings import get_settings

        return str(client("secretsmanager", get_settings()).get_secret_value(SecretId=secret_id)["SecretString"])
    except Exception as exc:  # not found, no access, no emulator: one line naming all three places
        raise ConfigError(
            f"secret {name!r} not found: set {env_name(name)}, or put it in a file "
            f"{settings.secrets_dir or '$EB_DAGS_SECRETS_DIR'}/{name}, or in Secrets Manager as {secret_id!r} "
            f"({type(exc).__name__}: {str(exc)[:120]})") from None
