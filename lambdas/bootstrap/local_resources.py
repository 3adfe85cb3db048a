"""Local profile only: the catalog applied as the Lambda applies it, plus what Terraform owns in AWS, created
in the AWS emulator — the three buckets and the DB secret. ``python -m lambdas.bootstrap`` runs it for
`make local-up`; the Lambda never does, and its zip leaves this module out (infra/package.py)."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from eventbus import aws
from eventbus.settings import Settings
from lambdas.bootstrap.apply import BootstrapReport, apply_all
from lambdas.bootstrap.settings import BootstrapSettings


def apply_local(settings: Settings, own: BootstrapSettings, *, topics: bool = True) -> BootstrapReport:
    """``apply_all`` (topics, schemas), then the emulator's buckets and DB secret. Idempotent."""
    report = apply_all(settings, own, topics=topics)
    report.buckets_created, report.secret_created = ensure_local_resources(settings, own)
    return report


def ensure_local_resources(settings: Settings, own: BootstrapSettings) -> tuple[list[str], bool]:
    """(buckets created, whether the DB secret was created) in the emulator; idempotent."""
    s3 = aws.client("s3", settings)
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    created = []
    for bucket in (settings.lake_bucket, settings.checkpoint_bucket, own.artifacts_bucket):
        if bucket not in have:
            s3.create_bucket(Bucket=bucket)
            created.append(bucket)
    sm = aws.client("secretsmanager", settings)
    secret = {
        "username": settings.pg_user,
        "password": settings.pg_password.get_secret_value(),
        "host": settings.pg_host,
        "port": settings.pg_port,
        "dbname": settings.pg_database,
    }
    try:
        sm.describe_secret(SecretId=own.pg_secret_name)
        return created, False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    sm.create_secret(Name=own.pg_secret_name, SecretString=json.dumps(secret))
    return created, True
