"""`make deploy`'s pools step (issue #19): mwaa_dags/config/pools.yaml upserted on MWAA through InvokeRestApi.

moto has no MWAA API, so the requests are checked with botocore's Stubber, which validates each call against
botocore's own mwaa service model (required members, Path length, the Method enum) and asserts the exact
parameters. tests/integration/test_infra_deploy_pools.py sends the same body to a real Airflow 3.2.1.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from tests.support.infra import infra_script

REPO = Path(__file__).resolve().parents[2]
ENV = "travel-ds"


@pytest.fixture(scope="module")
def scripts() -> tuple[ModuleType, ModuleType]:
    return infra_script("mwaa_pools"), infra_script("deploy")


@pytest.fixture
def mwaa() -> Any:
    return boto3.client("mwaa", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _request(mp: ModuleType) -> dict[str, Any]:
    return {"Name": ENV, "Path": "/pools", "Method": "PATCH", "Body": {"actions": [
        {"action": "create", "entities": mp.pool_entities(), "action_on_existence": "overwrite"}]}}


def test_entities_are_the_pools_file(scripts: tuple[ModuleType, ModuleType]) -> None:
    mp, _ = scripts
    declared = yaml.safe_load((REPO / "mwaa_dags" / "config" / "pools.yaml").read_text())["pools"]
    got = mp.pool_entities()
    assert [p["name"] for p in got] == list(declared)
    assert all(p["slots"] == declared[p["name"]]["slots"] and p["include_deferred"] is False for p in got)
    assert {p["name"]: p["slots"] for p in got}["nominatim"] == 1  # 1 request/s: one task at a time


def test_one_bulk_upsert_request_with_the_documented_shape(scripts: tuple[ModuleType, ModuleType], mwaa: Any) -> None:
    mp, _ = scripts
    names = [p["name"] for p in mp.pool_entities()]
    with Stubber(mwaa) as stub:
        stub.add_response("invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": {
            "create": {"success": names, "errors": []}}}, _request(mp))
        assert mp.ensure_pools(mwaa, ENV, mp.pool_entities()) == sorted(names)
        stub.assert_no_pending_responses()


def test_a_pool_airflow_did_not_confirm_fails_the_step(scripts: tuple[ModuleType, ModuleType], mwaa: Any) -> None:
    """Bulk errors arrive inside a 200: a refused pool must not pass as done."""
    mp, _ = scripts
    names = [p["name"] for p in mp.pool_entities()]
    error = {"error": "slots must be >= -1", "status_code": 422}
    with Stubber(mwaa) as stub:
        stub.add_response("invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": {
            "create": {"success": names[1:], "errors": [error]}}}, _request(mp))
        with pytest.raises(mp.PoolsError, match="did not upsert every pool.*slots must be"):
            mp.ensure_pools(mwaa, ENV, mp.pool_entities())


@pytest.mark.parametrize(("code", "fields"), [
    ("AccessDeniedException", {}),  # no airflow:InvokeRestApi at all
    ("RestApiClientException", {"RestApiStatusCode": 403, "RestApiResponse": {"detail": "Forbidden"}}),  # as Viewer
])
def test_a_refused_call_names_the_policy_to_attach(scripts: tuple[ModuleType, ModuleType], mwaa: Any, code: str,
                                                   fields: dict[str, Any]) -> None:
    mp, _ = scripts
    with Stubber(mwaa) as stub:
        stub.add_client_error("invoke_rest_api", service_error_code=code, http_status_code=403 if not fields else 400,
                              modeled_fields=fields or None, expected_params=_request(mp))
        with pytest.raises(mp.PoolsError) as err:
            mp.ensure_pools(mwaa, ENV, mp.pool_entities())
    assert f"airflow:InvokeRestApi on role/{ENV}/Op" in str(err.value)
    assert "mwaa_deploy_pools_policy_arn" in str(err.value) and "\n" not in str(err.value)


def test_deploy_runs_the_step_after_apply_and_says_when_it_cannot(scripts: tuple[ModuleType, ModuleType], mwaa: Any,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    mp, deploy = scripts
    names = [p["name"] for p in mp.pool_entities()]
    calls: list[str] = []

    class FakeTerraform:
        root = Path("/nonexistent")

        def run(self, *args: str, capture: bool = False) -> str:
            calls.append(args[0])
            return ""

        def outputs(self) -> dict[str, Any]:
            return {"mwaa_environment_name": ENV}

    monkeypatch.setattr(deploy, "start_jobs", lambda *a, **k: calls.append("jobs"))
    monkeypatch.setattr(deploy, "print_access", lambda *a, **k: None)
    monkeypatch.setattr(boto3, "client", lambda *a, **k: mwaa)
    with Stubber(mwaa) as stub:
        stub.add_response("invoke_rest_api", {"RestApiStatusCode": 200, "RestApiResponse": {
            "create": {"success": names, "errors": []}}}, _request(mp))
        deploy.deploy(FakeTerraform(), "us-east-1", apply=False)
    assert f"pools on {ENV}: " in capsys.readouterr().out and calls == ["init", "jobs"]
    deploy.deploy(FakeTerraform(), "us-east-1", apply=False, pools=False)  # the emulator path: one line, no call
    assert "pools: skipped on the emulator — moto has no MWAA API" in capsys.readouterr().out
    with Stubber(mwaa) as stub:  # a refusal stops the deploy with one line (DeployError), jobs not started
        stub.add_client_error("invoke_rest_api", service_error_code="AccessDeniedException", http_status_code=403)
        calls.clear()
        with pytest.raises(deploy.DeployError, match="airflow:InvokeRestApi"):
            deploy.deploy(FakeTerraform(), "us-east-1", apply=False)
    assert calls == ["init"]


def test_the_deploy_policy_grants_exactly_that_action_as_that_role(scripts: tuple[ModuleType, ModuleType]) -> None:
    mp, _ = scripts
    tf = (REPO / "infra" / "modules" / "mwaa" / "main.tf").read_text()
    block = re.search(r'data "aws_iam_policy_document" "deploy_pools" \{(.*?)\n\}', tf, re.S)
    assert block, "modules/mwaa: no deploy_pools policy document"
    assert re.findall(r"actions\s*=\s*\[(.*?)\]", block.group(1)) == ['"airflow:InvokeRestApi"']
    assert re.findall(r"resources\s*=\s*\[(.*?)\]", block.group(1)) == [
        f'"arn:${{local.partition}}:airflow:${{local.region}}:${{local.account_id}}:role/${{var.name}}/{mp.AIRFLOW_ROLE}"']
    outputs = (REPO / "infra" / "outputs.tf").read_text()
    assert 'output "mwaa_environment_name"' in outputs and 'output "mwaa_deploy_pools_policy_arn"' in outputs
