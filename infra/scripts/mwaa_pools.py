"""`make deploy`'s pools step: every pool of ``mwaa_dags/config/pools.yaml`` exists on the MWAA environment
with its slots and description (a task naming a missing pool is never scheduled). One idempotent request:

    ensure_pools(boto3.client("mwaa"), "travel-ds", pool_entities())   # -> the pool names upserted

How, and where each fact comes from:
- MWAA ``InvokeRestApi`` (botocore's mwaa 2020-07-01 service model; AWS API reference "InvokeRestApi"):
  ``POST /restapi/{Name}`` with ``Name``, ``Path`` (1-64 characters, the Airflow REST path without the
  ``/api/v2`` prefix, which MWAA adds for the environment's Airflow version), ``Method``
  (GET|PUT|POST|PATCH|DELETE), ``QueryParameters`` and ``Body`` (JSON documents); the answer carries
  ``RestApiStatusCode`` and ``RestApiResponse``, and an Airflow 4xx/5xx comes back as
  ``RestApiClientException`` / ``RestApiServerException`` with the same two fields. The call times out after
  10 s ("Using the Apache Airflow REST API", MWAA user guide).
- IAM: action ``airflow:InvokeRestApi`` (Service Authorization Reference, Amazon MWAA), granted on the Airflow
  role the caller is mapped to, ``arn:aws:airflow:<region>:<account>:role/<environment>/<Airflow role>``.
  Pools need ``Op`` (Airflow's Op role = User + connections, pools, variables): infra/modules/mwaa's
  ``deploy_pools`` policy grants exactly that, nothing else.
- Airflow 3 REST API v2 (airflow/api_fastapi/core_api/routes/public/pools.py, 3.2.1): ``PATCH /pools`` is the
  bulk endpoint; a ``create`` action with ``action_on_existence: overwrite`` creates missing pools and
  overwrites existing ones (an upsert), answering 200 with ``{"create": {"success": [...], "errors": [...]}}``
  — per-pool errors arrive inside a 200, so they are checked here. ``PoolBody``: ``name``, ``slots``,
  ``description``, ``include_deferred``.
tests/unit/test_infra_deploy_pools.py asserts the request shapes with botocore's Stubber;
tests/integration/test_infra_deploy_pools.py sends the same body to the local Airflow 3.2.1 api-server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

POOLS_FILE = Path(__file__).resolve().parents[2] / "mwaa_dags" / "config" / "pools.yaml"
#: The Airflow role the deploy's InvokeRestApi calls are mapped to (the IAM resource of the grant).
AIRFLOW_ROLE = "Op"


class PoolsError(Exception):
    """One line: what the pools step could not do and what to do about it."""


def pool_entities(path: Path = POOLS_FILE) -> list[dict[str, Any]]:
    """The pools file as Airflow's ``PoolBody`` objects, in file order."""
    pools = yaml.safe_load(path.read_text())["pools"]
    return [{"name": name, "slots": int(p["slots"]), "description": p.get("description", ""),
             "include_deferred": False} for name, p in pools.items()]


def bulk_upsert(pools: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of ``PATCH /pools``: create each pool, overwrite the ones that exist."""
    return {"actions": [{"action": "create", "entities": pools, "action_on_existence": "overwrite"}]}


def ensure_pools(mwaa: Any, environment: str, pools: list[dict[str, Any]]) -> list[str]:
    """Upsert ``pools`` on ``environment`` through InvokeRestApi; returns the names Airflow confirmed. Raises
    PoolsError (one line) on a refused call or on any pool Airflow did not confirm."""
    hint = (f"the deploying identity needs airflow:InvokeRestApi on role/{environment}/{AIRFLOW_ROLE} "
            "(attach the Terraform output mwaa_deploy_pools_policy_arn)")
    try:
        resp = mwaa.invoke_rest_api(Name=environment, Path="/pools", Method="PATCH", Body=bulk_upsert(pools))
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, status = err.get("Code", "?"), exc.response.get("RestApiStatusCode")
        detail = exc.response.get("RestApiResponse") or err.get("Message", "")
        if code == "AccessDeniedException" or status in (401, 403):
            raise PoolsError(f"MWAA refused PATCH /pools on {environment} ({code} {status or ''}): {hint}") from None
        raise PoolsError(f"PATCH /pools on MWAA environment {environment} failed ({code} {status or ''}): "
                         f"{str(detail)[:300]}") from None
    result = (resp.get("RestApiResponse") or {}).get("create") or {}
    done, errors = sorted(result.get("success") or []), result.get("errors") or []
    want = sorted(p["name"] for p in pools)
    if resp.get("RestApiStatusCode") != 200 or errors or done != want:
        raise PoolsError(f"Airflow on {environment} did not upsert every pool of {POOLS_FILE.name} "
                         f"(HTTP {resp.get('RestApiStatusCode')}): confirmed {done}, errors {errors}")
    return done
