"""Files in an S3-compatible bucket (SeaweedFS): presigned uploads and downloads through the
official client, digest dedup, and multipart uploads (`make test-s3`)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import WandbClient, unique_project
from support.postgres import throwaway_database
from support.seaweedfs import SeaweedS3
from support.server import LiveServer

# The official client's round trips take ~90 s: `make test-s3` runs them.
pytestmark = [pytest.mark.postgres, pytest.mark.s3]

PREFIX = "files/"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def bucket(seaweedfs: SeaweedS3) -> str:
    """A fresh bucket for this module's server."""
    name = f"runyard-{uuid.uuid4().hex[:12]}"
    seaweedfs.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def s3_server(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_admin_dsn: str,
    seaweedfs: SeaweedS3,
    bucket: str,
) -> Iterator[LiveServer]:
    """A server on PostgreSQL whose files live in the SeaweedFS bucket."""
    with throwaway_database(postgres_admin_dsn) as url:
        server = LiveServer(
            tmp_path_factory.mktemp("s3-server"),
            url,
            s3_bucket=bucket,
            s3_endpoint_url=seaweedfs.url,
            s3_access_key_id=seaweedfs.access_key,
            s3_secret_access_key=seaweedfs.secret_key,
            s3_prefix=PREFIX,
        ).start()
        yield server
        server.stop()


@pytest.fixture
def client(tmp_path: Path, s3_server: LiveServer) -> Iterator[WandbClient]:
    """The official client pointed at the bucket-backed server."""
    wandb = WandbClient(tmp_path, s3_server)
    yield wandb
    wandb.kill_leftovers()


def received_bytes(server: LiveServer) -> float:
    """Request body bytes the server has received so far (its Prometheus counter)."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    found = re.search(r"^runyard_http_request_body_bytes_total (\S+)$", text, re.M)
    assert found, "the server exports runyard_http_request_body_bytes_total"
    return float(found.group(1))


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def _ok(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr[-4000:]
    return result.results[-1]


def test_files_go_straight_to_the_bucket_and_come_back_byte_identical(
    client: WandbClient, s3_server: LiveServer, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    """Artifact files and a run file are PUT to presigned bucket URLs, land in SeaweedFS,
    download identical, and the server itself receives far fewer bytes than the files hold."""
    project = unique_project()
    source = tmp_path / "source"
    data = {
        "data/readme.txt": b"a small text file\n",
        "data/table.csv": b"a,b\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(2000)),
        "data/weights/big.bin": os.urandom(12 * MiB),
    }
    model = os.urandom(8 * MiB)
    _write(source, {**data, "model.bin": model})
    file_bytes = sum(map(len, data.values())) + len(model)
    before = received_bytes(s3_server)

    logged = _ok(client.run("bucket_files.py", "log", "--project", project, "--dir", str(source)))
    read = _ok(
        client.run(
            "bucket_files.py",
            "read",
            "--project",
            project,
            "--run-id",
            logged["run_id"],
            "--into",
            str(tmp_path / "out"),
        )
    )
    server_bytes = received_bytes(s3_server) - before

    downloaded = _files(Path(read["artifact"]))
    assert downloaded == {name.removeprefix("data/"): body for name, body in data.items()}
    assert (Path(read["run"]) / "model.bin").read_bytes() == model
    # The server learnt the run file's size and digest from the bucket (it never saw the PUT).
    assert read["size"] == len(model)
    assert read["md5"] == base64.b64encode(hashlib.md5(model).digest()).decode()
    # The bytes are in the bucket itself, under the configured prefix.
    stored = seaweedfs.objects(bucket, PREFIX)
    big_keys = [key for key, size in stored.items() if size == 12 * MiB]
    assert len(big_keys) == 1 and big_keys[0].startswith(f"{PREFIX}artifacts/")
    assert seaweedfs.get(bucket, big_keys[0]) == data["data/weights/big.bin"]
    model_keys = [k for k in stored if k.endswith("/files/model.bin")]
    assert len(model_keys) == 1 and seaweedfs.get(bucket, model_keys[0]) == model
    # Only GraphQL and file_stream traffic reached the server, never the files.
    print(f"server received {server_bytes:.0f} bytes for {file_bytes} bytes of files")
    print(f"seaweedfs started in {seaweedfs.started_in_s:.1f} s")
    assert server_bytes < 0.10 * file_bytes


def test_relogging_an_unchanged_file_uploads_nothing_new(
    client: WandbClient, seaweedfs: SeaweedS3, bucket: str, tmp_path: Path
) -> None:
    """A second version with the same big file reuses the stored object (same digest)."""
    project = unique_project()
    big = os.urandom(3 * MiB)
    first, second = tmp_path / "v1", tmp_path / "v2"
    _write(first, {"data/big.bin": big, "data/a.txt": b"first", "model.bin": b"m1"})
    _write(second, {"data/big.bin": big, "data/b.txt": b"second", "model.bin": b"m2"})

    _ok(client.run("bucket_files.py", "log", "--project", project, "--dir", str(first)))
    after_first = seaweedfs.objects(bucket, f"{PREFIX}artifacts/")
    _ok(client.run("bucket_files.py", "log", "--project", project, "--dir", str(second)))
    after_second = seaweedfs.objects(bucket, f"{PREFIX}artifacts/")

    new = {key: size for key, size in after_second.items() if key not in after_first}
    assert sorted(key.rsplit("/", 1)[-1] for key in new) == ["b.txt", "wandb_manifest.json"]
    assert sum(1 for size in after_second.values() if size == len(big)) == 1


GQL_CREATE = """mutation($i: CreateArtifactInput!) {
  createArtifact(input: $i) { artifact { id } } }"""
GQL_MANIFEST = """mutation($i: CreateArtifactManifestInput!) {
  createArtifactManifest(input: $i) {
    artifactManifest { id file { uploadUrl uploadHeaders } } } }"""
GQL_FILES = """mutation($i: CreateArtifactFilesInput!) {
  createArtifactFiles(input: $i) { files { edges { node {
    storagePath uploadUrl uploadHeaders
    uploadMultipartUrls { uploadID uploadUrlParts { partNumber uploadUrl } } } } } } }"""
GQL_COMPLETE = """mutation($i: CompleteMultipartUploadArtifactInput!) {
  completeMultipartUploadArtifact(input: $i) { digest } }"""
GQL_COMMIT = (
    """mutation($id: ID!) { commitArtifact(input: {artifactID: $id}) { artifact { id } } }"""
)
GQL_RUN = """mutation($name: String!, $project: String!) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: "admin"}) {
    bucket { id } } }"""


def _gql(api: httpx.Client, query: str, **variables: object) -> dict[str, Any]:
    body = api.post("/graphql", json={"query": query, "variables": variables}).json()
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_multipart_upload_of_a_big_file_through_presigned_part_urls(
    s3_server: LiveServer, seaweedfs: SeaweedS3, tmp_path: Path
) -> None:
    """The newest client's multipart protocol: part digests in createArtifactFiles, one
    presigned bucket URL per part (a part with other bytes is refused by the bucket),
    completeMultipartUploadArtifact, commit; the official client downloads it identical."""
    project = unique_project()
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 7)]
    whole = b"".join(parts)
    md5 = _b64(hashlib.md5(whole).digest())
    with s3_server.api() as api:
        _gql(api, GQL_RUN, name="mp-run", project=project)
        ids = {"entityName": "admin", "projectName": project, "runName": "mp-run"}
        artifact = _gql(
            api,
            GQL_CREATE,
            i={
                **ids,
                "artifactTypeName": "model",
                "artifactCollectionName": "big",
                "digest": hashlib.md5(whole).hexdigest(),
            },
        )["createArtifact"]["artifact"]["id"]
        manifest_id = _gql(
            api,
            GQL_MANIFEST,
            i={**ids, "artifactID": artifact, "name": "wandb_manifest.json", "digest": "x"},
        )["createArtifactManifest"]["artifactManifest"]["id"]
        spec = {
            "artifactID": artifact,
            "artifactManifestID": manifest_id,
            "name": "model.safetensors",
            "md5": md5,
            "uploadPartsInput": [
                {"partNumber": n, "hexMD5": hashlib.md5(p).hexdigest()}
                for n, p in enumerate(parts, start=1)
            ],
        }
        node = _gql(api, GQL_FILES, i={"artifactFiles": [spec], "storageLayout": "V2"})[
            "createArtifactFiles"
        ]["files"]["edges"][0]["node"]
        multipart = node["uploadMultipartUrls"]
        assert "Content-Type:application/octet-stream" in node["uploadHeaders"]
        urls = {p["partNumber"]: p["uploadUrl"] for p in multipart["uploadUrlParts"]}
        assert sorted(urls) == [1, 2, 3]
        assert all(url.startswith(f"{seaweedfs.url}/") for url in urls.values())

        def put(number: int, body: bytes, digest_of: bytes) -> httpx.Response:
            headers = {
                "Content-MD5": _b64(hashlib.md5(digest_of).digest()),
                "Content-Type": "application/octet-stream",
            }
            return httpx.put(urls[number], content=body, headers=headers, timeout=60)

        # Bytes that do not match the part's digest never land.
        assert put(1, parts[1], parts[0]).status_code == 400
        etags = [put(n, p, p).headers["ETag"] for n, p in enumerate(parts, start=1)]
        _gql(
            api,
            GQL_COMPLETE,
            i={
                "completeMultipartAction": "Complete",
                "completedParts": [
                    {"partNumber": n, "hexMD5": etag} for n, etag in enumerate(etags, start=1)
                ],
                "artifactID": artifact,
                "storagePath": node["storagePath"],
                "uploadID": multipart["uploadID"],
            },
        )
        manifest = {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {"storageLayout": "V2"},
            "contents": {"model.safetensors": {"digest": md5, "size": len(whole)}},
        }
        upload = _gql(
            api,
            GQL_MANIFEST,
            i={
                **ids,
                "artifactID": artifact,
                "name": "wandb_manifest.json",
                "digest": "y",
                "includeUpload": True,
            },
        )["createArtifactManifest"]["artifactManifest"]["file"]
        assert upload["uploadUrl"].startswith(f"{seaweedfs.url}/")
        assert httpx.put(upload["uploadUrl"], json=manifest, timeout=30).status_code == 200
        _gql(api, GQL_COMMIT, id=artifact)

    client = WandbClient(tmp_path, s3_server)
    try:
        args = ["--project", project, "--name", "big:latest", "--into", str(tmp_path / "dl")]
        got = _ok(client.run("bucket_files.py", "download", *args))
    finally:
        client.kill_leftovers()
    assert (Path(got["dir"]) / "model.safetensors").read_bytes() == whole
