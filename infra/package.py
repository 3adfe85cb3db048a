"""Build the deployable artifacts Terraform uploads (`make package`).

    python infra/package.py                      # everything, Lambda zips for python3.12 x86_64
    python infra/package.py gateway --platform local --out /tmp/pkg   # importable by this interpreter

Artifacts (under --out, default dist/):
  gateway.zip     lambdas/gateway + eventbus + schemas + deps (pyproject: core + msk + gateway, no uvicorn)
  bootstrap.zip   lambdas/bootstrap (the handler's modules) + eventbus + schemas (incl. sql/) + deps (core + msk + cdc)
  simulators.zip  lambdas/simulators + eventbus + schemas + deps (core + msk + simulators)
  mwaa/           dags/ (mwaa_dags/* but extdata/cli.py + eventbus + schemas + .airflowignore) and requirements.txt
  emr/            the emr_jobs/*.py modules + pyfiles.zip (emr_jobs + eventbus + schemas) for --py-files, and
                  entrypoints.json: the files with a __main__ guard (job entry points), jars/ (every connector
                  jar, from emr_jobs/jars/pom.xml), requirements.txt (the jobs' Python deps) and deps.tar.gz: those
                  deps (minus EMR's own pyspark/py4j) as wheels for EMR's Python (cp3.11, manylinux x86_64),
                  unpacked by `spark.archives=...#deps` onto PYTHONPATH=./deps (deps.json lists them)
An MWAA bundle without a DAG, or an EMR bundle without an entry point, is an error (Terraform refuses
them too), not an empty environment.

Platforms:
  lambda  pip installs wheels for the Lambda runtime (manylinux x86_64, CPython --python-version) with
          --only-binary, so confluent-kafka / pydantic-core / orjson match Lambda, not this machine.
  local   copies the installed distributions of *this* interpreter (offline, fast): for tests that
          unzip the package and run it here.
boto3/botocore/s3transfer/jmespath are left out (the Lambda runtime provides them) unless --bundle-sdk.
Zips are reproducible (sorted entries, fixed timestamps), so unchanged code keeps the same hash.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
RUNTIME_SDK = {"boto3", "botocore", "s3transfer", "jmespath"}
LAMBDA_PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"]
SKIP_PARTS = {"__pycache__", ".pytest_cache", "tests"}

# artifact -> (pyproject extras, packages left out, project code copied in)
LAMBDAS: dict[str, tuple[list[str], set[str], list[str]]] = {
    "gateway": (["msk", "gateway"], {"uvicorn"}, ["lambdas/__init__.py", "lambdas/gateway"]),
    # The Lambda's modules only: its CLI (__main__.py) and local half (local_resources.py) run from a checkout.
    "bootstrap": (["msk", "cdc"], set(), ["lambdas/__init__.py", *(f"lambdas/bootstrap/{m}.py" for m in
                                                                  ("__init__", "handler", "apply", "settings"))]),
    "simulators": (["msk", "simulators"], set(), ["lambdas/__init__.py", "lambdas/simulators"]),
}
SHARED_CODE = ["eventbus", "schemas"]
ARTIFACTS = [*LAMBDAS, "mwaa", "emr"]
# EMR Serverless (emr-7.10.0, Amazon Linux 2023) has python3.9 (the default python3) and /usr/bin/python3.11; the
# code needs 3.11 (pyproject requires-python), so the job runs on 3.11 (emr_jobs/submit.py EMR_PYTHON) and its deps
# archive holds cp311 wheels. pyspark/py4j are the image's own (they must match its Spark).
EMR_PYTHON_VERSION = "3.11"
EMR_IMAGE_PROVIDES = {"pyspark", "py4j"}
# Only the local profile imports it (eventbus.aws, lazily), and it has no wheel (sdist only): in no deployed
# artifact (Lambda, EMR, MWAA all run the aws profile).
LOCAL_ONLY = {"localstack-client"}
EMR_DEPS_ARCHIVE = "deps.tar.gz"
# `python -m extdata.cli` runs DAGs with dag.test() for `make dag` and the tests, patching Airflow's in-process
# Execution API for speed: a local tool. MWAA runs DAGs through its scheduler and has no shell to run it.
MWAA_NOT_SHIPPED = ["extdata/cli.py"]


class PackagingError(Exception):
    """A build step failed; the message says which and why."""


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extras: list[str], exclude: set[str]) -> list[str]:
    """Requirement strings for the project's core deps + the given extras, minus `exclude`."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [r for r in reqs if norm(Requirement(r).name) not in {norm(e) for e in exclude}]


# ---------------------------------------------------------------------------------------------
# dependency installation
# ---------------------------------------------------------------------------------------------
def install_lambda(reqs: list[str], target: Path, python_version: str) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
           "--target", str(target), "--implementation", "cp", "--python-version", python_version,
           "--only-binary=:all:", "--upgrade"]
    for plat in LAMBDA_PLATFORMS:
        cmd += ["--platform", plat]
    proc = subprocess.run([*cmd, *reqs], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PackagingError(
            f"pip could not get Lambda wheels (cp{python_version.replace('.', '')}, manylinux x86_64) for "
            f"{', '.join(reqs)}:\n{proc.stderr.strip()[-1500:]}"
        )


def _closure(reqs: list[str]) -> list[md.Distribution]:
    """Installed distributions needed by `reqs` (markers and extras evaluated for this interpreter)."""
    extras_done: dict[str, set[str]] = {}
    dists: dict[str, md.Distribution] = {}
    todo: list[tuple[str, set[str]]] = [(r, set()) for r in reqs]
    while todo:
        text, parent_extras = todo.pop()
        req = Requirement(text)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in parent_extras | {""}):
            continue
        key = norm(req.name)
        if key in extras_done and set(req.extras) <= extras_done[key]:
            continue
        try:
            dists[key] = md.distribution(req.name)
        except md.PackageNotFoundError:
            raise PackagingError(
                f"{req.name} is not installed in {sys.executable}: run `make install` first (the local "
                "platform copies this interpreter's packages)"
            ) from None
        extras_done[key] = extras_done.get(key, set()) | set(req.extras)
        todo += [(sub, extras_done[key]) for sub in dists[key].requires or []]
    return list(dists.values())


def install_local(reqs: list[str], target: Path) -> None:
    for dist in _closure(reqs):
        for f in dist.files or []:
            if f.parts[0] == ".." or f.suffix == ".pyc" or "__pycache__" in f.parts:
                continue
            src = Path(str(dist.locate_file(f)))
            if src.is_file():
                dst = target / f
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


# ---------------------------------------------------------------------------------------------
# assembling
# ---------------------------------------------------------------------------------------------
def copy_code(paths: list[str], target: Path) -> None:
    for rel in paths:
        src = REPO / rel
        if not src.exists():
            raise PackagingError(f"{rel} does not exist in {REPO}")
        if src.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / rel)
        else:
            shutil.copytree(
                src,
                target / rel,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "tests"),
            )


def write_zip(src_dir: Path, zip_path: Path) -> int:
    """Deterministic zip of a directory; returns the number of files."""
    files = sorted(p for p in src_dir.rglob("*") if p.is_file() and not SKIP_PARTS & set(p.relative_to(src_dir).parts))
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for p in files:
            info = zipfile.ZipInfo(p.relative_to(src_dir).as_posix(), ZIP_EPOCH)
            info.external_attr = (0o755 if p.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, p.read_bytes())
    tmp.replace(zip_path)
    return len(files)


def build_lambda(name: str, out: Path, platform: str, python_version: str, bundle_sdk: bool) -> Path:
    extras, leave_out, code = LAMBDAS[name]
    reqs = requirements(extras, leave_out | LOCAL_ONLY | (set() if bundle_sdk else RUNTIME_SDK))
    with tempfile.TemporaryDirectory(prefix=f"pkg-{name}-") as tmp:
        build = Path(tmp)
        if platform == "lambda":
            install_lambda(reqs, build, python_version)
        else:
            install_local(reqs, build)
        if not bundle_sdk:  # pulled in transitively (e.g. by the MSK IAM signer); the runtime has them
            for p in build.iterdir():
                if norm(p.name.split("-")[0]) in RUNTIME_SDK or p.name.split("-")[0] in RUNTIME_SDK:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
        copy_code([*SHARED_CODE, *code], build)
        zip_path = out / f"{name}.zip"
        write_zip(build, zip_path)
    return zip_path


# What makes a file a DAG / a Spark job entry point (Terraform applies the same rules before deploying:
# infra/modules/mwaa, infra/main.tf). A bundle without one is refused rather than deployed empty.
DAG_PATTERN = re.compile(r"(@dag\b|\bDAG\s*\()")
ENTRY_PATTERN = re.compile(r"""^if __name__ == ["']__main__["']:""", re.M)


def dag_files(folder: Path) -> list[str]:
    """Top-level *.py files that import Airflow and define a DAG."""
    return sorted(
        p.name for p in folder.glob("*.py") if "airflow" in (text := p.read_text()) and DAG_PATTERN.search(text)
    )


def entry_points(folder: Path) -> list[str]:
    """Top-level *.py files with a ``__main__`` guard: what EMR Serverless can run as ``entryPoint``."""
    return sorted(p.name for p in folder.glob("*.py") if ENTRY_PATTERN.search(p.read_text()))


def build_mwaa(out: Path) -> Path:
    dest = out / "mwaa"
    shutil.rmtree(dest, ignore_errors=True)
    dags = dest / "dags"
    dags.mkdir(parents=True)
    src = REPO / "mwaa_dags"
    if src.is_dir():
        shutil.copytree(
            src,
            dags,
            dirs_exist_ok=True,
            # requirements/ holds the local Airflow pins (.venv-airflow), not code
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "requirements*.txt", "requirements"),
        )
    if not dag_files(dags):
        raise PackagingError(
            f"no DAG in {src}: MWAA needs at least one top-level *.py file defining a DAG (@dag / DAG(...)); "
            "add the DAGs, or leave mwaa out (`make package PACKAGE_ARGS=\"gateway bootstrap simulators emr\"`, "
            "enable_mwaa = false)"
        )
    for rel in MWAA_NOT_SHIPPED:
        (dags / rel).unlink(missing_ok=True)
    copy_code(SHARED_CODE, dags)  # DAGs import eventbus; dags/ is on the workers' sys.path
    ignored = (dags / ".airflowignore").read_text() if (dags / ".airflowignore").exists() else ""
    (dags / ".airflowignore").write_text(ignored + "eventbus/\nschemas/\n")  # the DAGs' own + shared code
    own = sorted(src.glob("requirements*.txt")) if src.is_dir() else []
    if own:
        shutil.copy2(own[0], dest / "requirements.txt")
    else:
        lines = requirements(["msk"], RUNTIME_SDK)
        (dest / "requirements.txt").write_text(
            "# generated by infra/package.py: the shared library's deps\n" + "\n".join(lines) + "\n"
        )
    return dest


def build_emr(out: Path, deps_platform: str | None = None, python_version: str = EMR_PYTHON_VERSION) -> Path:
    """dist/emr/; with ``deps_platform`` (``lambda``: EMR's manylinux wheels, ``local``: this interpreter's) also
    deps.tar.gz — `make package` always passes it; None (layout-only callers, tests) leaves the archive out."""
    dest = out / "emr"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="pkg-emr-") as tmp:
        build = Path(tmp)
        copy_code(SHARED_CODE, build)
        jobs = REPO / "emr_jobs"
        if jobs.is_dir() and any(jobs.glob("*.py")):
            copy_code(["emr_jobs"], build)
            shutil.rmtree(build / "emr_jobs" / "jars", ignore_errors=True)  # the jars ship in jars/, not the zip
            for entry in sorted(jobs.glob("*.py")):
                if entry.name != "__init__.py":
                    shutil.copy2(entry, dest / entry.name)
        write_zip(build, dest / "pyfiles.zip")
    copy_spark_jars(dest / "jars")
    # The job's Python deps (pyspark itself is EMR's), shipped as deps.tar.gz (see emr_jobs/README.md).
    lines = requirements(["msk", "spark"], {"pyspark"})
    (dest / "requirements.txt").write_text("# generated by infra/package.py\n" + "\n".join(lines) + "\n")
    found = entry_points(dest)
    if not found:
        raise PackagingError(
            f"no Spark job entry point in {jobs}: EMR needs at least one top-level emr_jobs/*.py with an "
            "`if __name__ == \"__main__\":` guard (the job run's entryPoint)"
        )
    if deps_platform:
        build_emr_deps(lines, dest, deps_platform, python_version)
    # Terraform reads this manifest and refuses an EMR application without entry points.
    (dest / "entrypoints.json").write_text(json.dumps({"entry_points": found}, indent=2) + "\n")
    return dest


def build_emr_deps(reqs: list[str], dest: Path, platform: str, python_version: str) -> Path:
    """dest/deps.tar.gz: the jobs' Python deps for EMR Serverless, importable from ``./deps`` (PYTHONPATH) once
    ``spark.archives=<uri>/deps.tar.gz#deps`` unpacked it; a job run installs nothing. ``lambda`` platform: pip
    downloads manylinux x86_64 wheels for CPython ``python_version`` (not this machine's); ``local``: this
    interpreter's installed copies (tests). dest/deps.json lists what is inside."""
    reqs = [r for r in reqs if norm(Requirement(r).name) not in EMR_IMAGE_PROVIDES | LOCAL_ONLY]
    with tempfile.TemporaryDirectory(prefix="pkg-emr-deps-") as tmp:
        build = Path(tmp)
        try:
            install_lambda(reqs, build, python_version) if platform == "lambda" else install_local(reqs, build)
        except PackagingError as exc:
            raise PackagingError(f"EMR deps archive (dist/emr/{EMR_DEPS_ARCHIVE}): {exc}") from None
        for p in list(build.iterdir()):  # if pulled in transitively: EMR's own copy must win
            if norm(p.name.split("-")[0]) in EMR_IMAGE_PROVIDES:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        dists = {
            md.Distribution.at(info).metadata["Name"]: md.Distribution.at(info).version
            for info in sorted(build.glob("*.dist-info"))
        }
        if not dists:
            raise PackagingError(f"no distribution installed for {', '.join(reqs)} (EMR deps archive)")
        write_tar(build, dest / EMR_DEPS_ARCHIVE)
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    manifest = {"python_version": python_version if platform == "lambda" else here,
                "platform": "manylinux x86_64" if platform == "lambda" else "local", "packages": dists}
    (dest / "deps.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return dest / EMR_DEPS_ARCHIVE


def write_tar(src_dir: Path, tar_path: Path) -> int:
    """Deterministic tar.gz of a directory's contents (sorted, fixed mtime/owner); returns the number of files.
    gzip level 1: half the time of level 6 for ~12% more bytes (mostly compiled pyarrow/numpy)."""
    files = sorted(p for p in src_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    tmp = tar_path.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in files:
            info = tar.gettarinfo(str(p), arcname=p.relative_to(src_dir).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if p.stat().st_mode & 0o111 else 0o644
            with open(p, "rb") as fh:
                tar.addfile(info, fh)
    tmp.replace(tar_path)
    return len(files)


def copy_spark_jars(dest: Path) -> None:
    """Every jar the Spark jobs need beside EMR's own Spark (emr_jobs/jars/pom.xml), resolved by Maven, so a
    job run downloads nothing (``--jars`` points at these files in S3)."""
    pom = REPO / "emr_jobs" / "jars" / "pom.xml"
    if not pom.is_file():
        return
    jars = pom.parent / "target" / "jars"
    if not any(jars.glob("*.jar")):
        try:
            subprocess.run(["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"], check=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            raise PackagingError(f"cannot resolve the Spark jars ({exc}) — run `make spark-jars`") from exc
    dest.mkdir(parents=True, exist_ok=True)
    for jar in sorted(jars.glob("*.jar")):
        shutil.copy2(jar, dest / jar.name)


def describe(path: Path) -> str:
    if path.is_file():
        with zipfile.ZipFile(path) as zf:
            n, size = len(zf.infolist()), sum(i.file_size for i in zf.infolist())
        return f"{path.stat().st_size / 1e6:.1f} MB zipped, {size / 1e6:.1f} MB unzipped, {n} files"
    files = [p for p in path.rglob("*") if p.is_file()]
    return f"{len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.2f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/package.py", description=__doc__.split("\n\n")[0],
                                     epilog="Artifacts: " + ", ".join(ARTIFACTS))
    parser.add_argument("artifacts", nargs="*", choices=[*ARTIFACTS, []], metavar="ARTIFACT",
                        help=f"what to build (default: all of {', '.join(ARTIFACTS)})")
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output directory (default: dist/)")
    parser.add_argument("--platform", choices=["lambda", "local"], default="lambda",
                        help="lambda: manylinux x86_64 wheels for the runtime; local: this interpreter's packages")
    parser.add_argument("--python-version", default="3.12", help="Lambda runtime Python version (default 3.12)")
    parser.add_argument("--emr-python-version", default=EMR_PYTHON_VERSION,
                        help=f"EMR job runs' Python for dist/emr/deps.tar.gz (default {EMR_PYTHON_VERSION})")
    parser.add_argument("--no-emr-deps", action="store_true",
                        help="leave dist/emr/deps.tar.gz out (quick layout checks; EMR job runs need it)")
    parser.add_argument("--bundle-sdk", action="store_true", help="also bundle boto3/botocore (runtime provides them)")
    args = parser.parse_args(argv)
    wanted = args.artifacts or ARTIFACTS
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        for name in wanted:
            t0 = time.monotonic()
            if name in LAMBDAS:
                path = build_lambda(name, args.out, args.platform, args.python_version, args.bundle_sdk)
            elif name == "mwaa":
                path = build_mwaa(args.out)
            else:
                deps = None if args.no_emr_deps else args.platform
                path = build_emr(args.out, deps, args.emr_python_version)
            print(f"{name:<11} {path}  ({describe(path)}, {time.monotonic() - t0:.1f}s)", flush=True)
    except PackagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
