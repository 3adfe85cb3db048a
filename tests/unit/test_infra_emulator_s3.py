"""The tf-apply emulator's S3 on a bucket whose versioning was suspended: what `terraform destroy` does to a bucket
with ``force_destroy`` once its ``aws_s3_bucket_versioning`` is gone. moto 5.2 removed a key with a delete marker
by disposing every version, and a delete marker has nothing to dispose: 500 InternalError on every retry, and
destroy waited until the test's deadline (seen with ``-parallelism 30``; a race at the default 10). In S3 a
version id names one version whatever the bucket's versioning now is
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeletingObjectsfromVersioningSuspendedBuckets.html)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.infra import infra_script


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tf_apply_local = infra_script("tf_apply_local")
    scratch: Path = tmp_path_factory.mktemp("emulator-s3")
    with tf_apply_local.Emulator(scratch) as emu:
        yield tf_apply_local.client_factory(emu.endpoint, emu.ca_bundle)("s3")


def versioned_then_suspended(s3: Any, bucket: str) -> None:
    """v1 and v2 of a key, a delete marker on top, then versioning suspended."""
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        s3.put_object(Bucket=bucket, Key="dags/a.py", Body=body)
    s3.delete_object(Bucket=bucket, Key="dags/a.py")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def all_versions(s3: Any, bucket: str) -> list[dict[str, str]]:
    listed = s3.list_object_versions(Bucket=bucket)
    return [{"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]]


def test_force_destroy_of_a_suspended_bucket_deletes_every_version_and_the_bucket(s3: Any) -> None:
    versioned_then_suspended(s3, "force-destroyed")
    versions = all_versions(s3, "force-destroyed")
    assert len(versions) == 3  # v1, v2, the delete marker
    answer = s3.delete_objects(Bucket="force-destroyed", Delete={"Objects": versions, "Quiet": False})
    assert answer.get("Errors", []) == []
    assert all_versions(s3, "force-destroyed") == []
    s3.delete_bucket(Bucket="force-destroyed")
    assert "force-destroyed" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_version_id_deletes_that_version_only_after_suspension(s3: Any) -> None:
    versioned_then_suspended(s3, "one-version")
    listed = s3.list_object_versions(Bucket="one-version")
    marker = listed["DeleteMarkers"][0]["VersionId"]
    s3.delete_object(Bucket="one-version", Key="dags/a.py", VersionId=marker)
    # the marker is gone, so the newest version (v2) is the object again; v1 is still there
    assert s3.get_object(Bucket="one-version", Key="dags/a.py")["Body"].read() == b"v2"
    assert len(s3.list_object_versions(Bucket="one-version").get("Versions", [])) == 2
