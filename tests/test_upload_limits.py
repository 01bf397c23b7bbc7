"""Signed upload URLs carry whole files (an artifact's 1 GB model): they are limited by
RUNYARD_MAX_UPLOAD_BYTES, not by the request-body limit of API calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server import LiveServer


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """API bodies up to 100 kB, uploads up to 300 kB."""
    server = LiveServer(
        tmp_path_factory.mktemp("upload-limits"),
        None,
        max_request_bytes=100_000,
        max_upload_bytes=300_000,
    )
    yield server.start()
    server.stop()


def _put(server: LiveServer, key: str, body: bytes) -> httpx.Response:
    url = server.state.signer.url(server.url, "PUT", key)
    return httpx.put(url, content=body, timeout=60)


def test_an_upload_over_the_request_limit_but_within_the_upload_limit_is_stored(
    small_server: LiveServer, tmp_path: Path
) -> None:
    body = b"m" * 250_000
    answer = _put(small_server, "artifacts/1/files/model.bin", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["size"] == len(body)
    download = httpx.get(
        small_server.state.signer.url(small_server.url, "GET", "artifacts/1/files/model.bin")
    )
    assert download.content == body
    # API calls keep the request-body limit.
    with small_server.api() as api:
        assert api.post("/graphql", content=b"x" * 150_000).status_code == 413


def test_an_upload_over_the_upload_limit_is_a_413_naming_the_setting(
    small_server: LiveServer,
) -> None:
    answer = _put(small_server, "artifacts/1/files/huge.bin", b"h" * 350_000)
    assert answer.status_code == 413, answer.text
    assert "RUNYARD_MAX_UPLOAD_BYTES" in answer.text
