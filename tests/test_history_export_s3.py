"""History exports stored in an S3 bucket (SeaweedFS): the client reads them through the
server's signed URLs, HEAD and byte ranges included (`make test-s3`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_history_export import _expected, _log, _parquet_history, _read

from conftest import WandbClient, unique_project
from runyard.server.history_export.export import export_pass
from support.postgres import throwaway_database
from support.seaweedfs import SeaweedS3
from support.server import LiveServer

pytestmark = [pytest.mark.postgres, pytest.mark.s3]


@pytest.fixture(scope="module")
def s3_export_server(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str, seaweedfs: SeaweedS3
) -> Iterator[LiveServer]:
    """A server on PostgreSQL whose files, exports included, live in a fresh bucket."""
    bucket = f"runyard-{uuid.uuid4().hex[:12]}"
    seaweedfs.create_bucket(bucket)
    with throwaway_database(postgres_admin_dsn) as url:
        server = LiveServer(
            tmp_path_factory.mktemp("s3-export-server"),
            url,
            s3_bucket=bucket,
            s3_endpoint_url=seaweedfs.url,
            s3_access_key_id=seaweedfs.access_key,
            s3_secret_access_key=seaweedfs.secret_key,
            history_export_interval_s=3600,
            history_export_min_lines=1,
        ).start()
        yield server
        server.stop()


def test_scan_history_reads_an_export_stored_in_the_bucket(
    tmp_path: Path, s3_export_server: LiveServer
) -> None:
    client = WandbClient(tmp_path, s3_export_server)
    try:
        path = _log(client, unique_project(), 25)
        assert export_pass(s3_export_server.state).exported >= 1
        url = _parquet_history(s3_export_server, path)["parquetUrls"][0]
        assert url.startswith(s3_export_server.url)
        read = _read(client, path)
        assert read["all"] == _expected(range(25))
        assert read["loss"] == [[s, 1.0 / (s + 1)] for s in range(25)]
    finally:
        client.kill_leftovers()
