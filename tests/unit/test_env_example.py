"""`.env.example` lists no variable that nothing reads: every ``EB_*`` line is a setting of some settings
model (the other direction, every setting listed, is tests/unit/test_catalog.py). A setting that moved to a
component's model (e.g. ``EB_PG_REPLICATION_SECRET_ARN`` -> ``EB_BOOTSTRAP_PG_REPLICATION_SECRET_ARN``) must
not linger under its old name, where setting it would silently do nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.settings_models import settings_env_names

REPO = Path(__file__).resolve().parents[2]


def test_env_example_lists_only_variables_a_settings_model_reads() -> None:
    listed = set(re.findall(r"^#?\s*(EB_[A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))
    assert len(listed) > 50
    assert sorted(listed - settings_env_names()) == []


def test_moved_settings_are_read_under_their_new_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventbus.settings import Settings
    from lambdas.bootstrap.settings import BootstrapSettings

    shared = set(Settings.model_fields)
    assert not {"pg_replication_secret_arn", "pg_secret_name", "artifacts_bucket", "emr_application_id",
                "emr_execution_role_arn"} & shared
    monkeypatch.setenv("EB_BOOTSTRAP_PG_REPLICATION_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:r")
    monkeypatch.setenv("EB_PG_REPLICATION_SECRET_ARN", "arn:old-name")  # read by nothing any more
    own = BootstrapSettings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' init-only argument
    assert own.pg_replication_secret_arn == "arn:aws:secretsmanager:us-east-1:1:secret:r"
    assert (own.pg_secret_name, own.artifacts_bucket) == ("travel/oltp", "travel-artifacts")
