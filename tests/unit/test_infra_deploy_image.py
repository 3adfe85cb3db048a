"""`make deploy`'s Fargate image is built for the CPU its tasks run on, whatever the deploying machine's CPU."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra" / "scripts"))
import deploy

sys.path.pop(0)

ARCH = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}


def test_the_image_platform_is_the_task_definitions_cpu() -> None:
    compute = (deploy.INFRA / "modules" / "compute" / "main.tf").read_text()
    (arch,) = set(re.findall(r'cpu_architecture\s*=\s*"(\w+)"', compute))
    assert ARCH[arch] == deploy.IMAGE_PLATFORM


def test_build_and_push_builds_for_that_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    commands: list[list[str]] = []

    def run(cmd: list[str], *_a: Any, **_kw: Any) -> subprocess.CompletedProcess[Any]:
        if cmd[:2] == ["git", "rev-parse"]:
            return subprocess.CompletedProcess(cmd, 0, "abc123def456\n", "")
        if cmd[:2] == ["git", "diff"]:
            return subprocess.CompletedProcess(cmd, 0, b"", b"")
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    class Tf:
        def apply(self, *_args: str) -> None:
            pass

        def outputs(self) -> dict[str, Any]:
            return {"ecr_repository_url": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/travel"}

    monkeypatch.delenv("CONTAINER_IMAGE", raising=False)
    monkeypatch.setattr(deploy, "docker_ready", lambda: "docker")
    monkeypatch.setattr(deploy.subprocess, "run", run)
    with mock_aws():
        import boto3

        boto3.client("ecr", region_name="eu-west-1").create_repository(repositoryName="travel")
        assert deploy.build_and_push(cast(Any, Tf()), "eu-west-1") == {"image_tag": "abc123def456"}
    (build,) = [c for c in commands if c[1] == "build"]
    assert build[build.index("--platform") + 1] == deploy.IMAGE_PLATFORM
    assert [c[1] for c in commands] == ["login", "build", "push"]
