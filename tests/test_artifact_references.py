"""Artifacts with reference entries (`artifact.add_reference`), with the official client.

The client checksums a reference when it logs it (`file://`: the file's MD5; `http(s)://`:
the ETag) and writes the entry with its `ref` URI into the manifest; Runyard stores no bytes
for it, lists it with the version's files (the client downloads only listed entries) with
the URI as its URL, and the client fetches it from there on `download()`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from conftest import WandbClient, unique_project
from support.server import LiveServer

# Long official-client round trips: `make test-e2e`, run by .ci/run after `make test`.
pytestmark = pytest.mark.e2e


def test_a_file_reference_is_listed_and_downloaded_sqlite(
    sqlite_client: WandbClient, tmp_path: Path
) -> None:
    result = sqlite_client.run(
        "artifact_reference.py", "--project", unique_project(), "--workdir", str(tmp_path / "w")
    )
    assert result.returncode == 0, result.stderr
    (found,) = result.results
    assert found["downloaded"] == {
        "stored.txt": "stored bytes",
        "referenced.txt": "referenced bytes",
    }


# --- helpers ---------------------------------------------------------------------------------


def _run(client: WandbClient, *args: str) -> dict[str, Any]:
    result = client.run("artifact_refs.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    (found,) = result.results
    return found


def _log(client: WandbClient, project: str, ref: str, *extra: str) -> dict[str, Any]:
    return _run(client, "log", "--project", project, "--name", "refs", "--ref", ref, *extra)


def _download(client: WandbClient, project: str, alias: str, dest: Path) -> dict[str, Any]:
    found = _run(
        client, "download", "--project", project, "--name", f"refs:{alias}", "--dest", str(dest)
    )
    if "files" in found:
        found["files"] = {k: base64.b64decode(v) for k, v in found["files"].items()}
    return found


class _Handler(SimpleHTTPRequestHandler):
    """Serves the test's folder; under `/etag/` with an ETag (the content's MD5), as object
    stores do, so the client checksums the reference by it; elsewhere without one."""

    def end_headers(self) -> None:
        if self.path.startswith("/etag/"):
            path = Path(self.translate_path(self.path))
            if path.is_file():
                self.send_header("ETag", f'"{hashlib.md5(path.read_bytes()).hexdigest()}"')
        super().end_headers()

    def translate_path(self, path: str) -> str:
        return super().translate_path(path.removeprefix("/etag"))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is the client's."""


class _FileServer:
    """A folder served over http or https (a trustme CA signs its certificate)."""

    def __init__(self, root: Path, tls: trustme.CA | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root

        def handler(*args: Any) -> _Handler:
            return _Handler(*args, directory=str(root))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.issue_cert("127.0.0.1").configure_cert(context)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[_FileServer]:
    server = _FileServer(tmp_path / "served-http")
    yield server
    server.close()


@pytest.fixture
def https_files(tmp_path: Path, ca: trustme.CA) -> Iterator[_FileServer]:
    server = _FileServer(tmp_path / "served-https", tls=ca)
    yield server
    server.close()


# --- file:// ---------------------------------------------------------------------------------


def test_a_file_reference_downloads_byte_identical_and_versions_follow_its_contents_sqlite(
    sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    data = tmp_path / "data" / "weights.bin"
    data.parent.mkdir()
    first = os.urandom(256 * 1024) + bytes(range(256))
    data.write_bytes(first)
    ref = data.resolve().as_uri()

    logged = _log(sqlite_client, project, ref)
    assert logged["version"] == "v0"
    # Checksummed at log time: the entry's digest is the file's MD5.
    entry = logged["entries"]["weights.bin"]
    assert entry["digest"] == base64.b64encode(hashlib.md5(first).digest()).decode()
    assert (entry["ref"], entry["size"]) == (ref, len(first))
    assert _download(sqlite_client, project, "v0", tmp_path / "dl0")["files"] == {
        "weights.bin": first
    }

    # Unchanged on disk: logging it again makes no new version.
    assert _log(sqlite_client, project, ref)["version"] == "v0"

    # Changed on disk: a new version, which downloads the new bytes.
    second = first[::-1]
    data.write_bytes(second)
    assert _log(sqlite_client, project, ref)["version"] == "v1"
    assert _download(sqlite_client, project, "latest", tmp_path / "dl1") == {
        "version": "v1",
        "files": {"weights.bin": second},
    }


def test_a_file_reference_without_checksum_is_recorded_by_its_uri_sqlite(
    sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    data = tmp_path / "data.txt"
    data.write_text("one")
    ref = data.resolve().as_uri()

    logged = _log(sqlite_client, project, ref, "--no-checksum")
    # The digest is the URI's MD5, so changed contents make no new version.
    expected = base64.b64encode(hashlib.md5(ref.encode()).digest()).decode()
    assert logged["entries"]["data.txt"]["digest"] == expected
    data.write_text("two")
    assert _log(sqlite_client, project, ref, "--no-checksum")["version"] == "v0"
    # The client's file:// handler compares the file with the entry's digest when it
    # downloads, so it refuses an unchecksummed local reference; this is what users see.
    found = _download(sqlite_client, project, "v0", tmp_path / "dl")
    assert "Digest mismatch" in found["error"]


# --- http(s):// ------------------------------------------------------------------------------


def test_http_and_https_references_download_and_version_by_etag_sqlite(
    sqlite_client: WandbClient,
    tmp_path: Path,
    http_files: _FileServer,
    https_files: _FileServer,
    ca: trustme.CA,
) -> None:
    # The client (requests) trusts the https server's test CA.
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    sqlite_client.env["REQUESTS_CA_BUNDLE"] = str(ca_file)
    sqlite_client.env["SSL_CERT_FILE"] = str(ca_file)

    for name, served in (("http", http_files), ("https", https_files)):
        project = unique_project()
        body = os.urandom(64 * 1024)
        (served.root / "table.bin").write_bytes(body)
        ref = f"{served.url}/etag/table.bin"
        logged = _log(sqlite_client, project, ref)
        assert logged["version"] == "v0", name
        assert logged["entries"]["table.bin"]["digest"] == hashlib.md5(body).hexdigest(), name
        found = _download(sqlite_client, project, "v0", tmp_path / f"{name}-dl0")
        assert found["files"] == {"table.bin": body}, name

        assert _log(sqlite_client, project, ref)["version"] == "v0", name
        (served.root / "table.bin").write_bytes(body + b"more")
        assert _log(sqlite_client, project, ref)["version"] == "v1", name
        found = _download(sqlite_client, project, "v1", tmp_path / f"{name}-dl1")
        assert found["files"] == {"table.bin": body + b"more"}, name


def test_an_http_reference_without_checksum_downloads_what_is_there_sqlite(
    sqlite_client: WandbClient, tmp_path: Path, http_files: _FileServer
) -> None:
    project = unique_project()
    (http_files.root / "live.csv").write_text("a,b\n1,2\n")
    ref = f"{http_files.url}/live.csv"

    logged = _log(sqlite_client, project, ref, "--no-checksum")
    # Recorded by URI only: the URI is the digest, and nothing was fetched.
    entry = logged["entries"]["live.csv"]
    assert (entry["ref"], entry["digest"]) == (ref, ref)
    (http_files.root / "live.csv").write_text("a,b\n3,4\n")
    assert _log(sqlite_client, project, ref, "--no-checksum")["version"] == "v0"
    # The download fetches whatever the URI serves now.
    found = _download(sqlite_client, project, "v0", tmp_path / "dl")
    assert found["files"] == {"live.csv": b"a,b\n3,4\n"}


# --- bad input -------------------------------------------------------------------------------


def test_a_reference_to_an_unreadable_path_is_refused_and_nothing_is_logged_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    missing = (tmp_path / "no-such-file.bin").resolve().as_uri()
    found = _log(sqlite_client, project, missing)
    # The client checksums at add_reference(), before anything reaches the server.
    assert found["stage"] == "add_reference"
    assert "must be a valid file or directory path" in found["error"]
    with sqlite_server.api() as api:
        assert api.get(f"/api/v1/artifacts/admin/{project}/refs:v0").status_code == 404

    # A referenced file that vanished after logging: the download names the path.
    gone = tmp_path / "gone.bin"
    gone.write_bytes(b"soon gone")
    assert _log(sqlite_client, project, gone.resolve().as_uri())["version"] == "v0"
    gone.unlink()
    found = _download(sqlite_client, project, "v0", tmp_path / "dl")
    assert "Failed to find file at path" in found["error"]
    assert str(gone) in found["error"]


CREATE = """mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id } } }"""
MANIFEST = """mutation($i: CreateArtifactManifestInput!) {
  createArtifactManifest(input: $i) { artifactManifest { id file { uploadUrl } } } }"""
COMMIT = """mutation($id: ID!) { commitArtifact(input: {artifactID: $id}) { artifact { id } } }"""


FILES = """query($p: String!) { project(name: $p, entityName: "admin") {
  artifact(name: "refs:v0") { files { edges { node { name digest directUrl } } } } } }"""


def _gql(api: httpx.Client, query: str, **variables: object) -> Any:
    return api.post("/graphql", json={"query": query, "variables": variables}).json()


def _commit_manifest(api: httpx.Client, project: str, contents: dict[str, Any]) -> Any:
    """Log a version of `refs` whose manifest holds `contents`, as a client does; return the
    commit's answer."""
    upsert = "mutation($p: String!) { upsertModel(input: {name: $p}) { project { id } } }"
    assert not _gql(api, upsert, p=project).get("errors")
    spec = {
        "entityName": "admin",
        "projectName": project,
        "artifactTypeName": "dataset",
        "artifactCollectionName": "refs",
        "digest": "e" * 32,
    }
    node = _gql(api, CREATE, i=spec)["data"]["createArtifact"]["artifact"]["id"]
    manifest = {
        "artifactID": node,
        "name": "wandb_manifest.json",
        "digest": "d",
        "entityName": "admin",
        "projectName": project,
        "runName": "r",
    }
    made = _gql(api, MANIFEST, i=manifest)["data"]["createArtifactManifest"]
    body = {"version": 1, "storagePolicy": "wandb-storage-policy-v1", "contents": contents}
    put = httpx.put(made["artifactManifest"]["file"]["uploadUrl"], json=body)
    assert put.status_code == 200, put.text
    return _gql(api, COMMIT, id=node)


def test_a_manifest_reference_that_is_no_uri_is_refused_at_commit(
    sqlite_server: LiveServer,
) -> None:
    project = unique_project()
    with sqlite_server.api() as api:
        contents = {"data.bin": {"digest": "AAAA", "ref": "/data/no-scheme.bin"}}
        errors = _commit_manifest(api, project, contents)["errors"]
        message = errors[0]["message"]
        assert "'data.bin' references '/data/no-scheme.bin', which is not a URI" in message
        assert api.get(f"/api/v1/artifacts/admin/{project}/refs:v0").status_code == 404


def test_an_s3_reference_is_kept_and_listed_with_its_uri_for_the_client_to_fetch(
    sqlite_server: LiveServer,
) -> None:
    """Runyard never reads reference bytes (its object store is the filesystem): the client
    fetches `s3://` entries from S3 itself, with boto3 and its own AWS settings."""
    project = unique_project()
    uri = "s3://datasets/imagenet/train.tar"
    with sqlite_server.api() as api:
        contents = {"train.tar": {"digest": "etag-1", "ref": uri, "size": 10, "extra": {}}}
        assert not _commit_manifest(api, project, contents).get("errors")
        files = _gql(api, FILES, p=project)["data"]["project"]["artifact"]["files"]["edges"]
    assert [f["node"] for f in files] == [
        {"name": "train.tar", "digest": "etag-1", "directUrl": uri}
    ]
