"""Versions built from others with the official client: `new_draft()`, incremental artifacts
(`wandb_manifest.incremental.json`) and distributed artifacts (`wandb_manifest.patch.json`
from several runs, finished once)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import WandbClient, unique_project
from runyard.server.errors import ServiceError
from runyard.server.tracking.artifact_manifests import (
    FULL,
    INCREMENTAL,
    PATCH,
    assemble,
    check_reference,
    manifest_digest,
    manifest_kind,
)
from support.server import LiveServer


def _one(client: WandbClient, *args: str) -> list[dict[str, Any]]:
    result = client.run("artifact_drafts.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.results


def _versions(client: WandbClient, project: str, workdir: Path) -> dict[str, Any]:
    (found,) = _one(client, "read", "--project", project, "--name", "ds", "--workdir", str(workdir))
    versions: dict[str, Any] = found["versions"]  # type: ignore[assignment]
    return versions


def test_new_draft_and_incremental_add_a_file_and_keep_the_old_ones(
    wandb_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    work = str(tmp_path / "w")
    logged = _one(wandb_client, "draft", "--project", project, "--name", "ds", "--workdir", work)
    assert logged == [{"draft": "v1"}, {"incremental": "v2"}]

    text = {name: f"contents of {name}\n" for name in ("a.txt", "b.txt", "c.txt")}
    assert _versions(wandb_client, project, tmp_path / "r") == {
        "v0": {"a.txt": text["a.txt"]},
        "v1": {"a.txt": text["a.txt"], "b.txt": text["b.txt"]},
        "v2": text,
    }


def test_two_runs_add_to_one_distributed_version_finished_once(
    wandb_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    common = ("--project", project, "--name", "ds", "--workdir", str(tmp_path / "w"))
    assert _one(wandb_client, "upsert", "--part", "p0", *common) == [{"upserted": "p0"}]
    assert _one(wandb_client, "upsert", "--part", "p1", *common) == [{"upserted": "p1"}]
    assert _one(wandb_client, "finish", *common) == [{"finished": "v0"}]

    # One version holds both runs' files; nothing else was committed.
    assert _versions(wandb_client, project, tmp_path / "r") == {
        "v0": {"p0.txt": "contents of p0.txt\n", "p1.txt": "contents of p1.txt\n"}
    }

    # The same distributed id after the finish starts the next version.
    assert _one(wandb_client, "upsert", "--part", "p2", *common) == [{"upserted": "p2"}]
    assert _one(wandb_client, "finish", *common) == [{"finished": "v1"}]
    assert _versions(wandb_client, project, tmp_path / "r2")["v1"] == {
        "p2.txt": "contents of p2.txt\n"
    }


# --- the pure rules --------------------------------------------------------------------------


def test_manifest_names_map_to_their_types_and_others_are_refused() -> None:
    assert manifest_kind("wandb_manifest.json", None) == FULL
    assert manifest_kind("wandb_manifest.incremental.json", "INCREMENTAL") == INCREMENTAL
    assert manifest_kind("wandb_manifest.patch.json", "PATCH") == PATCH
    with pytest.raises(ServiceError, match="not a manifest name"):
        manifest_kind("manifest.json", None)
    with pytest.raises(ServiceError, match="has type PATCH, not FULL"):
        manifest_kind("wandb_manifest.patch.json", "FULL")


def test_parts_apply_in_order_over_the_base_and_the_digest_is_the_clients() -> None:
    base = {
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "contents": {"a.txt": {"digest": "A"}, "b.txt": {"digest": "B"}},
    }
    first = {"version": 1, "contents": {"b.txt": {"digest": "B2"}, "c.txt": {"digest": "C"}}}
    second = {"version": 1, "contents": {"c.txt": {"digest": "C2"}}}
    full = assemble(base, [first, second])
    assert full["storagePolicy"] == "wandb-storage-policy-v1"
    assert full["contents"] == {
        "a.txt": {"digest": "A"},
        "b.txt": {"digest": "B2"},
        "c.txt": {"digest": "C2"},
    }
    assert assemble(None, [second])["contents"] == {"c.txt": {"digest": "C2"}}
    # wandb's ArtifactManifestV1.digest(): MD5 over a header and sorted `path:digest` lines.
    expected = hashlib.md5(b"wandb-artifact-manifest-v1\na.txt:A\nb.txt:B2\nc.txt:C2\n")
    assert manifest_digest(full) == expected.hexdigest()


# --- bad input -------------------------------------------------------------------------------

UPSERT_PROJECT = """mutation($p: String!) {
  upsertModel(input: {name: $p, entityName: "admin"}) { project { id } } }"""
CREATE = """mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id } } }"""
MANIFEST = """mutation($i: CreateArtifactManifestInput!) {
  createArtifactManifest(input: $i) { artifactManifest { id file { uploadUrl } } } }"""
UPDATE = """mutation($id: ID!) { updateArtifactManifest(input: {artifactManifestID: $id}) {
  artifactManifest { id file { uploadUrl } } } }"""
COMMIT = """mutation($id: ID!) { commitArtifact(input: {artifactID: $id}) { artifact { id } } }"""


def _gql(api: httpx.Client, query: str, **variables: object) -> Any:
    return api.post("/graphql", json={"query": query, "variables": variables}).json()


def _error(body: Any) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["message"])


def test_bad_manifest_parts_get_clear_errors_and_commit_nothing(
    sqlite_server: LiveServer,
) -> None:
    project = unique_project()
    with sqlite_server.api() as api:
        assert not _gql(api, UPSERT_PROJECT, p=project).get("errors")

        def create(name: str) -> str:
            spec = {
                "entityName": "admin",
                "projectName": project,
                "artifactTypeName": "dataset",
                "artifactCollectionName": name,
                "digest": uuid.uuid4().hex,
                "clientID": uuid.uuid4().hex,
            }
            return str(_gql(api, CREATE, i=spec)["data"]["createArtifact"]["artifact"]["id"])

        def manifest(node: str, name: str, kind: str, base: str | None = None) -> Any:
            spec = {
                "artifactID": node,
                "baseArtifactID": base,
                "name": name,
                "digest": "d",
                "entityName": "admin",
                "projectName": project,
                "runName": "r",
                "type": kind,
            }
            return _gql(api, MANIFEST, i=spec)

        pending = create("ds")
        assert "not a manifest name" in _error(manifest(pending, "other.json", "FULL"))
        message = _error(manifest(pending, "wandb_manifest.patch.json", "INCREMENTAL"))
        assert "has type PATCH, not INCREMENTAL" in message
        # The base of an incremental version must be a committed version of the same artifact.
        other = create("other")
        message = _error(manifest(pending, "wandb_manifest.incremental.json", "INCREMENTAL", other))
        assert "baseArtifactID" in message
        assert "baseArtifactID" in _error(
            manifest(pending, "wandb_manifest.incremental.json", "INCREMENTAL", "bm90LWFuLWlk")
        )
        assert "artifactManifestID" in _error(_gql(api, UPDATE, id="bm90LWFuLWlk"))

        # A part started but never uploaded: the commit refuses and no version appears.
        part = manifest(pending, "wandb_manifest.patch.json", "PATCH")
        part_id = part["data"]["createArtifactManifest"]["artifactManifest"]["id"]
        upload = _gql(api, UPDATE, id=part_id)["data"]["updateArtifactManifest"]
        assert upload["artifactManifest"]["file"]["uploadUrl"]
        assert "no manifest part was uploaded" in _error(_gql(api, COMMIT, id=pending))
        versions = api.get(f"/api/v1/artifacts/admin/{project}/ds:v0")
        assert versions.status_code == 404


def test_references_must_be_uris() -> None:
    for ref in ("file:///data/a b.bin", "https://host/x", "s3://bucket/key", "gs://b/k"):
        check_reference("x", ref)
    for ref in ("", "/data/x.bin", "data.bin", "://x", "file://"):
        with pytest.raises(ServiceError, match="is not a URI"):
            check_reference("x", ref)
