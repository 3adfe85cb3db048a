"""`make package`: the gateway zip is self-contained and handles real API Gateway v2 events.

The zip is built for this interpreter (`--platform local`), unzipped into a temp dir and imported by a
separate `python -S` process whose sys.path is only the unzipped package + the SDK the Lambda runtime
provides (boto3/botocore): nothing can come from the project venv or the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGER = REPO / "infra" / "package.py"
RUNTIME_SDK = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"]

pytestmark = pytest.mark.slow


def _build(out: Path, *artifacts: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PACKAGER), *artifacts, "--platform", "local", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def gateway_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (REPO / "lambdas" / "gateway" / "handler.py").exists():
        pytest.skip("lambdas/gateway not present yet")
    out = tmp_path_factory.mktemp("dist")
    proc = _build(out, "gateway")
    assert proc.returncode == 0, proc.stderr
    return out / "gateway.zip"


def _runtime_sdk_dir(tmp: Path) -> Path:
    """What the Lambda python runtime ships besides the stdlib: symlinks to this venv's copies. Plus
    localstack_client: the zip runs here in the local profile (against moto), which the deployed Lambda
    never does, so the zip leaves it out."""
    import importlib.util

    sdk = tmp / "runtime"
    sdk.mkdir()
    for mod in (*RUNTIME_SDK, "localstack_client"):
        spec = importlib.util.find_spec(mod)
        if spec is None or spec.origin is None:
            continue
        src = Path(spec.origin)
        src = src.parent if src.name == "__init__.py" else src
        (sdk / src.name).symlink_to(src)
    return sdk


def _apigw_v2_event(method: str, path: str, headers: dict[str, str] | None = None, body: str | None = None) -> dict:
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "host": host,
            "user-agent": "pytest",
            "x-forwarded-proto": "https",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "content-type": "application/json",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": host,
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2025:13:00:00 +0000",
            "timeEpoch": 1764162000000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


INVOKE = r"""
import json, sys
task, runtime, events = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = [task, runtime]

class Context:
    function_name = "travel-ds-gateway"
    aws_request_id = "req-1"
    def get_remaining_time_in_millis(self):
        return 5000

from lambdas.gateway.handler import handler
import eventbus, fastapi, mangum, confluent_kafka
origins = {m.__name__: m.__file__ for m in (eventbus, fastapi, mangum, confluent_kafka)}
results = [handler(e, Context()) for e in events]
print(json.dumps({"origins": origins, "results": results}))
"""


def test_gateway_zip_contains_code_and_deps_but_not_the_runtime_sdk(gateway_zip: Path) -> None:
    names = set(zipfile.ZipFile(gateway_zip).namelist())
    for required in (
        "lambdas/gateway/handler.py",
        "lambdas/gateway/authorizer.py",  # the HTTP API's authorizer runs from the same zip
        "eventbus/settings.py",
        "eventbus/certs/rds-ca-bundle.pem",  # sslmode=verify-full trust anchors (EB_PG_SSLMODE)
        "schemas/topics.yaml",
        "fastapi/__init__.py",
        "mangum/__init__.py",
        "confluent_kafka/__init__.py",
    ):
        assert required in names, f"{required} missing from {gateway_zip.name}"
    assert not any(n.startswith(("boto3/", "botocore/")) for n in names), "runtime SDK must not be bundled"
    assert not any(n.startswith("uvicorn/") for n in names), "uvicorn is a local-server dependency only"
    assert not any(n.startswith("localstack_client/") for n in names), "localstack-client is the local profile's only"
    assert not any("__pycache__" in n for n in names)
    avsc = {n for n in names if n.startswith("schemas/") and n.endswith(".avsc")}
    assert avsc == {f"schemas/{p.name}" for p in (REPO / "schemas").glob("*.avsc")}


def test_gateway_zip_is_reproducible(gateway_zip: Path, tmp_path: Path) -> None:
    proc = _build(tmp_path, "gateway")
    assert proc.returncode == 0, proc.stderr
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (gateway_zip, tmp_path / "gateway.zip")]
    assert digest[0] == digest[1], "same sources must give the same zip (Terraform's source_code_hash)"


@pytest.fixture
def registry_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server of its own with the catalog's schemas: the gateway resolves its schema version at cold
    start, and a unit test must not depend on the stack's emulator being up."""
    from moto.server import ThreadedMotoServer

    from eventbus.settings import Settings
    from lambdas.bootstrap.apply import register_schemas

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        register_schemas(Settings(profile="local", aws_endpoint_url=url, registry_name=ZIP_REGISTRY))
        yield url
    finally:
        server.stop()


ZIP_REGISTRY = "unit-zip-registry"


def test_unzipped_gateway_handles_api_gateway_v2_events(gateway_zip: Path, tmp_path: Path, registry_url: str) -> None:
    task = tmp_path / "task"
    zipfile.ZipFile(gateway_zip).extractall(task)
    events = [
        _apigw_v2_event("GET", "/health"),
        _apigw_v2_event("POST", "/events/user", body=json.dumps({"event_type": "app_open"})),
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "EB_PROFILE": "local",
        "EB_LOG_LEVEL": "WARNING",
        "EB_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "EB_AWS_ENDPOINT_URL": registry_url,
        "EB_REGISTRY_NAME": ZIP_REGISTRY,
        "EB_GATEWAY_API_KEYS": "unit-test-key",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    proc = subprocess.run(
        [sys.executable, "-S", "-c", INVOKE, str(task), str(_runtime_sdk_dir(tmp_path)), json.dumps(events)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for module, origin in out["origins"].items():
        assert origin.startswith(str(task)), f"{module} was imported from {origin}, not from the zip"
    health, unauthorized = out["results"]
    assert health["statusCode"] == 200, health
    assert unauthorized["statusCode"] == 401, unauthorized  # no x-api-key: rejected before any broker call
    assert "x-api-key" in unauthorized["body"].lower()


def test_packager_help_and_unknown_artifact() -> None:
    ok = subprocess.run([sys.executable, str(PACKAGER), "--help"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "--platform" in ok.stdout
    bad = subprocess.run([sys.executable, str(PACKAGER), "nonsense"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles")
    proc = _build(out, "mwaa", "emr")
    assert proc.returncode == 0, proc.stderr
    return out


def test_mwaa_and_emr_bundles(bundles: Path) -> None:
    tmp_path = bundles
    dags = tmp_path / "mwaa" / "dags"
    assert (dags / "eventbus" / "settings.py").is_file() and (dags / "schemas" / "topics.yaml").is_file()
    assert {"eventbus/", "schemas/"} <= set((dags / ".airflowignore").read_text().split())  # + mwaa_dags' own
    assert (tmp_path / "mwaa" / "requirements.txt").read_text().strip()
    pyfiles = set(zipfile.ZipFile(tmp_path / "emr" / "pyfiles.zip").namelist())
    assert "eventbus/serde.py" in pyfiles and "schemas/topics.yaml" in pyfiles
    _shipped(pyfiles, "emr/pyfiles.zip")
    bundle = {p.relative_to(dags).as_posix() for p in dags.rglob("*") if p.is_file()}
    _shipped(bundle, "mwaa/dags")
    assert "extdata/cli.py" not in bundle and "extdata/sources.py" in bundle  # dag.test() runner: local only


def test_the_emr_jobs_read_the_catalog_and_schemas_from_pyfiles_zip(bundles: Path, tmp_path: Path) -> None:
    """On EMR Serverless ``--py-files pyfiles.zip`` puts the zip itself on sys.path: the jobs' entry point must
    list its jobs (the catalog) and every topic's schema must be readable, with nothing but the zip to read."""
    emr = bundles / "emr"
    zip_path = str(emr / "pyfiles.zip")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EB_", "PYTHON"))}
    env |= {"PYTHONPATH": zip_path, "TMPDIR": str(tmp_path)}
    check = """
import json
import eventbus, emr_jobs
from eventbus.catalog import load_catalog
from eventbus.paths import REPO_ROOT
from eventbus.settings import Settings
catalog = load_catalog(Settings())
print(json.dumps({"code": [eventbus.__file__, emr_jobs.__file__], "root": str(REPO_ROOT),
                  "schemas": {t.name: json.loads(t.schema_text)["type"] for t in catalog}}))
"""
    proc = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert all(f.startswith(zip_path + "/") for f in out["code"]), out["code"]  # imported from the zip
    assert Path(out["root"]).parent == tmp_path and out["schemas"]
    assert set(out["schemas"].values()) == {"record"}
    jobs = subprocess.run([sys.executable, str(emr / "main.py"), "jobs"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert jobs.returncode == 0, jobs.stderr
    from emr_jobs.jobs import registry

    assert [line.split()[0] for line in jobs.stdout.splitlines()] == list(registry().names())


NOT_SHIPPED = ("local/", "tests/", "bench/", "infra/")  # no artifact carries the stack, tests, benches, infra


def _shipped(names: set[str], artifact: str) -> None:
    assert not [n for n in names if n.startswith(NOT_SHIPPED)], f"{artifact}: local/test/bench code shipped"
    assert "eventbus/bootstrap.py" not in names, f"{artifact}: the bootstrap ships in its own Lambda only"


def test_gateway_zip_carries_no_local_or_test_code(gateway_zip: Path) -> None:
    names = set(zipfile.ZipFile(gateway_zip).namelist())
    _shipped(names, "gateway.zip")
    assert not [n for n in names if n.startswith("lambdas/") and not n.startswith("lambdas/gateway/")
                and n != "lambdas/__init__.py"], "another component's code in the gateway zip"


BOOTSTRAP_PROBE = r"""
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from lambdas.bootstrap import handler
import lambdas.bootstrap.apply as apply, psycopg2
print(json.dumps({"origins": [handler.__file__, apply.__file__, psycopg2.__file__],
                  "oltp_sql": apply.OLTP_SQL.is_file(), "left_out": sorted(m for m in sys.modules
                  if m in ("lambdas.bootstrap.local_resources", "lambdas.bootstrap.__main__"))}))
"""


def test_bootstrap_zip_is_the_handler_and_nothing_local(tmp_path: Path) -> None:
    """The bootstrap's code ships only in its own zip, without its CLI and its local-stack half, and the
    unzipped handler imports from the zip alone (OLTP schema included)."""
    proc = _build(tmp_path, "bootstrap")
    assert proc.returncode == 0, proc.stderr
    names = set(zipfile.ZipFile(tmp_path / "bootstrap.zip").namelist())
    ours = sorted(n for n in names if n.startswith("lambdas/"))
    assert ours == ["lambdas/__init__.py", "lambdas/bootstrap/__init__.py", "lambdas/bootstrap/apply.py",
                    "lambdas/bootstrap/handler.py", "lambdas/bootstrap/settings.py"]
    assert "schemas/sql/oltp.sql" in names and "psycopg2/__init__.py" in names
    _shipped(names, "bootstrap.zip")
    task = tmp_path / "task"
    zipfile.ZipFile(tmp_path / "bootstrap.zip").extractall(task)
    run = subprocess.run([sys.executable, "-S", "-c", BOOTSTRAP_PROBE, str(task), str(_runtime_sdk_dir(tmp_path))],
                         cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "EB_PROFILE": "aws"}, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(o.startswith(str(task)) for o in got["origins"]), got["origins"]
    assert got["oltp_sql"] is True and got["left_out"] == []


def _dockerfile_requirements_script() -> str:
    text = (REPO / "infra" / "docker" / "Dockerfile").read_text()
    return text.split("<<'PY'", 1)[1].split("\n", 1)[1].split("\nPY\n", 1)[0]


def test_image_installs_what_package_py_ships_and_nothing_local_only() -> None:
    """The Dockerfile's requirement script (run here, as the build runs it) leaves out exactly package.py's
    LOCAL_ONLY (localstack-client), and the image copies no local, test or other component code."""
    import ast
    import importlib.util
    import re

    spec = importlib.util.spec_from_file_location("infra_package", PACKAGER)
    assert spec and spec.loader
    package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    script = _dockerfile_requirements_script()
    found = re.search(r"^LOCAL_ONLY = (\{.*\})$", script, re.M)
    assert found, "the Dockerfile's requirements script names no LOCAL_ONLY set"
    declared = ast.literal_eval(found.group(1))
    assert declared == package.LOCAL_ONLY == {"localstack-client"}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    image = out.stdout.split()
    assert image == package.requirements(["msk", "simulators", "cdc"], package.LOCAL_ONLY)
    assert not [r for r in image if r.startswith("localstack")]
    copied = re.findall(r"^COPY (\S+)", (REPO / "infra" / "docker" / "Dockerfile").read_text(), re.M)
    assert copied == ["pyproject.toml", "eventbus", "lambdas/__init__.py", "lambdas/simulators", "lambdas/cdc",
                      "schemas"]
