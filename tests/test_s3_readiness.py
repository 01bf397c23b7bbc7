"""`/readyz` of a server whose files live in a bucket: not ready, naming the setting, while
the bucket is gone; ready again once it is back, without a restart (SeaweedFS)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.seaweedfs import SeaweedS3
from support.server import LiveServer

DEADLINE_S = 60


@pytest.fixture
def bucket(seaweedfs: SeaweedS3) -> str:
    name = f"runyard-{uuid.uuid4().hex[:12]}"
    seaweedfs.create_bucket(name)
    return name


def _server(tmp_path: Path, seaweedfs: SeaweedS3, bucket: str, interval_s: float) -> LiveServer:
    return LiveServer(
        tmp_path / "data",
        s3_bucket=bucket,
        s3_endpoint_url=seaweedfs.url,
        s3_access_key_id=seaweedfs.access_key,
        s3_secret_access_key=seaweedfs.secret_key,
        s3_ready_check_interval_s=interval_s,
    ).start()


@pytest.fixture
def live_every_probe(tmp_path: Path, seaweedfs: SeaweedS3, bucket: str) -> Iterator[LiveServer]:
    """A server that looks at the bucket on every /readyz."""
    server = _server(tmp_path, seaweedfs, bucket, 0)
    yield server
    server.stop()


def _readyz(server: LiveServer) -> httpx.Response:
    return httpx.get(f"{server.url}/readyz", timeout=30)


def _wait_for(server: LiveServer, status: int) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        answer = _readyz(server)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_missing_bucket_makes_the_server_not_ready_until_it_is_back(
    live_every_probe: LiveServer, seaweedfs: SeaweedS3, bucket: str
) -> None:
    assert _readyz(live_every_probe).json() == {"status": "ready"}

    seaweedfs.remove_bucket(bucket)
    gone = _wait_for(live_every_probe, 503)
    assert gone.status_code == 503, gone.text
    error = gone.json()["error"]
    assert "RUNYARD_S3_BUCKET" in error and bucket in error and "does not exist" in error

    seaweedfs.create_bucket(bucket)
    back = _wait_for(live_every_probe, 200)
    assert back.status_code == 200, back.text


def test_the_bucket_answer_is_reused_between_checks(
    tmp_path: Path, seaweedfs: SeaweedS3, bucket: str
) -> None:
    """With a long check interval, /readyz answers from the last look at the bucket: a load
    balancer probing every second does not become a HEAD per second."""
    server = _server(tmp_path, seaweedfs, bucket, 300)
    try:
        assert _readyz(server).status_code == 200
        seaweedfs.remove_bucket(bucket)
        assert _readyz(server).status_code == 200
    finally:
        server.stop()
        seaweedfs.create_bucket(bucket)


def test_without_a_key_pair_setting_the_standard_aws_chain_signs(
    tmp_path: Path, seaweedfs: SeaweedS3, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No RUNYARD_S3_* keys: the AWS environment variables serve; the start's probe write and
    /readyz go through with them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    server = LiveServer(tmp_path / "data", s3_bucket=bucket, s3_endpoint_url=seaweedfs.url).start()
    try:
        assert _readyz(server).json() == {"status": "ready"}
    finally:
        server.stop()
