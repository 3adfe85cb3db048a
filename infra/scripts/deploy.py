"""`make deploy` / `make undeploy`: the whole layer in the AWS account of your credentials, one command each.

    python infra/scripts/deploy.py deploy              # AWS_PROFILE / AWS_REGION as for the AWS CLI
    python infra/scripts/deploy.py undeploy            # asks before destroying (--yes: does not ask)
    python infra/scripts/deploy.py deploy --emulator   # deploy, redeploy, undeploy on a private emulator

deploy:   1. image: build infra/docker/Dockerfile and push it to the layer's ECR repository (created first by a
             targeted apply), tagged with the commit (+ a content hash when the tree is dirty; tags are
             immutable); CONTAINER_IMAGE=<uri> uses that image instead. No docker: a one-line error.
          2. terraform init + apply with that image (kept in infra/deploy.auto.tfvars.json for later applies)
          3. the Airflow pools of mwaa_dags/config/pools.yaml on the MWAA environment, upserted through MWAA's
             InvokeRestApi (mwaa_pools.py; needs the `mwaa_deploy_pools_policy_arn` policy)
          4. the EMR streaming jobs: `python -m emr_jobs.submit` with the `emr_job_environment` output; a job's
             running run is cancelled first, so a redeploy replaces runs instead of adding to them
          5. prints the gateway URL and how to read the API key
          (`make deploy` runs `make package` first: Lambda zips, DAG bundle, EMR bundle.)
undeploy: cancels the job runs, turns deletion protection off and lets the buckets and the repository be
          emptied (targeted apply), then `terraform destroy`.
Extra Terraform variables: a *.auto.tfvars file in infra/ or TF_VAR_* (e.g. TF_VAR_alarm_emails='["you@x.org"]').
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from mwaa_pools import PoolsError, ensure_pools, pool_entities
from plan_runner import INFRA, REPO, find_terraform

DEPLOY_VARS = INFRA / "deploy.auto.tfvars.json"
#: The Fargate tasks run on X86_64 (infra/modules/compute/main.tf, runtime_platform.cpu_architecture); docker
#: builds for the host's CPU unless told, and an arm64 image (an Apple Silicon laptop) fails every task with
#: "exec format error" (https://repost.aws/knowledge-center/ecs-task-exec-format-error).
IMAGE_PLATFORM = "linux/amd64"
UNDEPLOY_TARGETS = ("module.aurora.aws_rds_cluster.this", "module.storage", "module.compute.aws_ecr_repository.this")


class DeployError(Exception):
    """One line saying what failed and what to do."""


class Terraform:
    def __init__(self, tf: str, root: Path, env: dict[str, str], var_args: list[str]) -> None:
        self.tf, self.root, self.env, self.var_args = tf, root, env, var_args

    def run(self, *args: str, capture: bool = False) -> str:
        proc = subprocess.run([self.tf, *args], cwd=self.root, env=self.env, text=True, check=False,
                              stdout=subprocess.PIPE if capture else None)
        if proc.returncode != 0:
            raise DeployError(f"terraform {args[0]} failed (exit {proc.returncode}) — see its output above")
        return proc.stdout or ""

    def apply(self, *extra: str, auto_approve: bool = True) -> None:
        self.run("apply", "-input=false", *(["-auto-approve"] if auto_approve else []), *self.var_args, *extra)

    def outputs(self) -> dict[str, Any]:
        return {k: v["value"] for k, v in json.loads(self.run("output", "-json", capture=True) or "{}").items()}


def image_tag() -> str:
    """The commit, plus a hash of the uncommitted changes when there are any (tags are immutable)."""
    sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    diff = subprocess.run(["git", "diff", "HEAD"], cwd=REPO, capture_output=True, check=True).stdout
    return sha if not diff else f"{sha}-dirty-{hashlib.sha256(diff).hexdigest()[:8]}"


def docker_ready() -> str | None:
    """The docker CLI, if it is installed and reaches a daemon."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        ok = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    return docker if ok else None


def build_and_push(tfm: Terraform, region: str) -> dict[str, str]:
    """The image variables for the apply: CONTAINER_IMAGE as given, or a freshly pushed ECR image."""
    if os.environ.get("CONTAINER_IMAGE"):
        return {"container_image": os.environ["CONTAINER_IMAGE"]}
    docker = docker_ready()
    if docker is None:
        raise DeployError("no working Docker (docker not found, or `docker info` fails: no daemon) — it builds the "
                          "Fargate image (infra/docker/Dockerfile): install/start Docker, or set CONTAINER_IMAGE=<uri>")
    tag = image_tag()
    tfm.apply("-target=module.compute.aws_ecr_repository.this")
    repo = tfm.outputs()["ecr_repository_url"]
    import base64

    import boto3

    ecr = boto3.client("ecr", region_name=region)
    have = ecr.batch_get_image(repositoryName=repo.split("/", 1)[1], imageIds=[{"imageTag": tag}]).get("images")
    if not have:
        auth = ecr.get_authorization_token()["authorizationData"][0]
        user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
        subprocess.run([docker, "login", "--username", user, "--password-stdin", repo.split("/", 1)[0]],
                       input=password, text=True, check=True)
        subprocess.run([docker, "build", "--platform", IMAGE_PLATFORM, "-f", str(INFRA / "docker" / "Dockerfile"),
                        "-t", f"{repo}:{tag}", str(REPO)], check=True)
        subprocess.run([docker, "push", f"{repo}:{tag}"], check=True)
    return {"image_tag": tag}


def submit_env(outputs: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EB_", "TF_"))}
    env.update({k: str(v) for k, v in outputs["emr_job_environment"].items()})
    env.update(extra or {})
    return env


def start_jobs(outputs: dict[str, Any], extra_env: dict[str, str] | None = None, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "emr_jobs.submit", *args], cwd=REPO,
                          env=submit_env(outputs, extra_env), check=False)
    if proc.returncode != 0:
        raise DeployError("starting the EMR streaming job runs failed (python -m emr_jobs.submit, output above)")


def create_pools(outputs: dict[str, Any], region: str) -> None:
    """Step 3: the pools the DAGs' tasks name, on MWAA (none without an environment)."""
    environment = outputs.get("mwaa_environment_name")
    if not environment:
        print("pools: no MWAA environment (enable_mwaa = false) — nothing to do")
        return
    import boto3

    try:
        names = ensure_pools(boto3.client("mwaa", region_name=region), environment, pool_entities())
    except PoolsError as exc:
        raise DeployError(str(exc)) from None
    print(f"pools on {environment}: {', '.join(names)}")


def print_access(outputs: dict[str, Any]) -> None:
    url = str(outputs["gateway_url"]).rstrip("/")
    print(f"\ngateway: {url}")
    print("API key: aws secretsmanager get-secret-value --secret-id "
          f"{outputs['gateway_api_keys_secret_arn']} --query SecretString --output text | jq -r '.[0]'")
    print(f"try it:  curl -s {url}/health")


def deploy(tfm: Terraform, region: str, extra_env: dict[str, str] | None = None,
           image_vars: dict[str, str] | None = None, apply: bool = True, pools: bool = True) -> dict[str, Any]:
    tfm.run("init", "-input=false")
    if apply:
        image = image_vars if image_vars is not None else build_and_push(tfm, region)
        (tfm.root / DEPLOY_VARS.name).write_text(json.dumps(image, indent=2) + "\n")
        tfm.apply()
    outputs = tfm.outputs()
    if pools:
        create_pools(outputs, region)
    else:
        print("pools: skipped on the emulator — moto has no MWAA API (no environment, no InvokeRestApi); "
              "tests/unit/test_infra_deploy_pools.py checks the requests with botocore's Stubber")
    start_jobs(outputs, extra_env)
    print_access(outputs)
    return outputs


def undeploy(tfm: Terraform, extra_env: dict[str, str] | None = None, yes: bool = False) -> None:
    tfm.run("init", "-input=false")
    outputs = tfm.outputs()
    if "emr_job_environment" in outputs:
        start_jobs(outputs, extra_env, "--stop")
    release = ["-var", "deletion_protection=false", "-var", "force_destroy_buckets=true"]
    tfm.apply(*release, *(f"-target={t}" for t in UNDEPLOY_TARGETS))
    tfm.run("destroy", "-input=false", *(["-auto-approve"] if yes else []), *tfm.var_args, *release)
    (tfm.root / DEPLOY_VARS.name).unlink(missing_ok=True)


def emulator_run() -> int:
    """deploy, redeploy (replaces the job runs), undeploy against a private emulator; says how far it got."""
    from plan_runner import find_plugin_dir
    from tf_apply_local import Emulator, emulator_root

    scratch = Path(tempfile.mkdtemp(prefix="deploy-emulator-"))
    try:
        with Emulator(scratch) as emu:
            work, env, varfile, _ = emulator_root(scratch, emu.endpoint, emu.ca_bundle, emu.proxy)
            (scratch / "dist" / "emr" / "jars").mkdir(parents=True, exist_ok=True)
            (scratch / "dist" / "emr" / "jars" / "stub-connector.jar").write_bytes(b"stub")
            env["TF_CLI_ARGS_init"] = f"-plugin-dir={find_plugin_dir()}"
            tfm = Terraform(find_terraform() or "terraform", work, env, [f"-var-file={varfile}"])
            extra = {**{k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CA_BUNDLE")},
                     "EB_AWS_ENDPOINT_URL": emu.endpoint, "EB_AWS_REGION": "us-east-1"}
            print(f"image: {'Docker works, but' if docker_ready() else 'no working Docker here:'} build/push "
                  "skipped on the emulator (a placeholder container_image)")
            placeholder = {"container_image": "public.ecr.aws/docker/library/python:3.12-slim"}
            deploy(tfm, "us-east-1", extra, placeholder, pools=False)
            # A second apply on moto would "fix" attributes moto does not read back (tf_apply_local's
            # READBACK_GAPS; moto then refuses ModifySecurityGroupRules): the redeploy re-runs the jobs step only.
            print("\nredeploy, jobs step (the job runs are replaced, not added):")
            deploy(tfm, "us-east-1", extra, placeholder, apply=False, pools=False)
            undeploy(tfm, extra, yes=True)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\nemulator: deploy (apply + job runs), redeploy (job runs replaced), undeploy (jobs cancelled, destroy) "
          "ran; not here: the image build/push (no Docker daemon), a second apply (moto read-back gaps), the "
          "bootstrap's and the jobs' code (moto runs no Lambda or Spark), the MWAA environment and its pools step (no "
          "MWAA API in moto)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/scripts/deploy.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("command", choices=("deploy", "undeploy"))
    parser.add_argument("--emulator", action="store_true", help="deploy, redeploy, undeploy on a private emulator")
    parser.add_argument("--yes", action="store_true", help="undeploy: destroy without asking")
    args = parser.parse_args(argv)
    if args.emulator:
        return emulator_run()
    tf = find_terraform()
    if tf is None:
        print("error: terraform not found — install Terraform >= 1.11", file=sys.stderr)
        return 1
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    env = {**os.environ}
    env.setdefault("TF_VAR_region", region)  # Terraform variable names are lower case
    tfm = Terraform(tf, INFRA, env, [])
    try:
        if args.command == "deploy":
            deploy(tfm, region)
        else:
            undeploy(tfm, yes=args.yes)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
