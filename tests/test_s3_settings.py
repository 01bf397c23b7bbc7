"""Bad object store settings fail the server's start, naming the setting to fix (SeaweedFS
as the real S3 server that refuses them)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runyard.cli import main
from support.seaweedfs import SeaweedS3
from support.server import free_port


@pytest.fixture(scope="module")
def bucket(seaweedfs: SeaweedS3) -> str:
    """A bucket that exists, so each test breaks exactly one setting."""
    name = f"runyard-{uuid.uuid4().hex[:12]}"
    seaweedfs.create_bucket(name)
    return name


def _start(tmp_path: Path, **env: str) -> Any:
    settings = {"RUNYARD_DATA_DIR": str(tmp_path / "data"), "RUNYARD_PORT": str(free_port())}
    return CliRunner().invoke(main, ["server"], env={**settings, **env})


def _s3_env(seaweedfs: SeaweedS3, bucket: str, **changes: str) -> dict[str, str]:
    env = {
        "RUNYARD_S3_BUCKET": bucket,
        "RUNYARD_S3_ENDPOINT_URL": seaweedfs.url,
        "RUNYARD_S3_ACCESS_KEY_ID": seaweedfs.access_key,
        "RUNYARD_S3_SECRET_ACCESS_KEY": seaweedfs.secret_key,
    }
    return {**env, **changes}


def _refused(result: Any, tmp_path: Path, *names: str) -> None:
    assert result.exit_code != 0
    for name in names:
        assert name in result.output, result.output
    # Refused before anything was created: no database appeared in the data dir.
    assert not (tmp_path / "data" / "runyard.db").exists()


def test_unreachable_endpoint_fails_the_start_naming_the_setting(
    tmp_path: Path, seaweedfs: SeaweedS3, bucket: str
) -> None:
    """Nothing listens at the endpoint: the start fails naming RUNYARD_S3_ENDPOINT_URL."""
    dead = f"http://127.0.0.1:{free_port()}"
    result = _start(tmp_path, **_s3_env(seaweedfs, bucket, RUNYARD_S3_ENDPOINT_URL=dead))
    _refused(result, tmp_path, "RUNYARD_S3_ENDPOINT_URL", "cannot reach", dead)


def test_wrong_credentials_fail_the_start_naming_the_settings(
    tmp_path: Path, seaweedfs: SeaweedS3, bucket: str
) -> None:
    """A wrong secret key: the start fails naming the key pair settings."""
    env = _s3_env(seaweedfs, bucket, RUNYARD_S3_SECRET_ACCESS_KEY="not-the-secret")
    result = _start(tmp_path, **env)
    _refused(result, tmp_path, "RUNYARD_S3_ACCESS_KEY_ID", "RUNYARD_S3_SECRET_ACCESS_KEY")


def test_missing_bucket_fails_the_start_naming_the_setting(
    tmp_path: Path, seaweedfs: SeaweedS3
) -> None:
    """A bucket that does not exist: the start fails naming RUNYARD_S3_BUCKET."""
    result = _start(tmp_path, **_s3_env(seaweedfs, "runyard-no-such-bucket"))
    _refused(result, tmp_path, "RUNYARD_S3_BUCKET", "runyard-no-such-bucket", "does not exist")


def test_half_a_key_pair_fails_the_start_naming_both_settings(
    tmp_path: Path, seaweedfs: SeaweedS3, bucket: str
) -> None:
    """An access key without its secret: the start fails naming both settings."""
    env = _s3_env(seaweedfs, bucket)
    del env["RUNYARD_S3_SECRET_ACCESS_KEY"]
    result = _start(tmp_path, **env)
    _refused(result, tmp_path, "RUNYARD_S3_ACCESS_KEY_ID", "RUNYARD_S3_SECRET_ACCESS_KEY")
