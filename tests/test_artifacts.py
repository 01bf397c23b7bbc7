"""Artifacts with the official client: log, use + download, versions, aliases, dedup, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ScriptResult, WandbClient, unique_project
from support.server import LiveServer

FILES_A = {"a.txt": "hello artifact world\n", "sub/b.csv": "x,y\n1,2\n"}
FILES_B = {"a.txt": "hello artifact world, take two\n", "sub/b.csv": "x,y\n1,2\n3,4\n"}


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _result(result: ScriptResult) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert len(result.results) == 1, result.stdout
    return result.results[0]


def _log(
    client: WandbClient, tmp: Path, project: str, files: dict[str, str], *extra: str
) -> dict[str, Any]:
    src = _write(tmp / f"src-{len(list(tmp.glob('src-*')))}", files)
    return _result(
        client.run(
            "artifacts.py", "log", "--project", project, "--name", "ds", "--src", str(src), *extra
        )
    )


def _use(client: WandbClient, tmp: Path, project: str, name: str) -> dict[str, Any]:
    dest = tmp / f"dl-{len(list(tmp.glob('dl-*')))}"
    return _result(
        client.run("artifacts.py", "use", "--project", project, "--name", name, "--dest", str(dest))
    )


def test_log_then_use_and_public_api_read_identical_bytes(
    server: LiveServer, wandb_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    logged = _log(wandb_client, tmp_path, project, FILES_A)
    assert logged["version"] == "v0"

    used = _use(wandb_client, tmp_path, project, "ds:latest")
    assert used["version"] == "v0"
    assert used["aliases"] == ["latest"]
    assert used["files"] == FILES_A

    public = _result(
        wandb_client.run(
            "artifacts.py",
            "public",
            "--project",
            project,
            "--name",
            "ds:v0",
            "--dest",
            str(tmp_path / "public"),
        )
    )
    assert public["name"] == "ds:v0"
    assert public["type"] == "dataset"
    assert public["metadata"] == {"rows": 2}
    assert public["digest"] == logged["digest"]
    assert public["aliases"] == ["latest"]
    assert public["files"] == FILES_A


def test_versions_aliases_and_digest_dedup(sqlite_client: WandbClient, tmp_path: Path) -> None:
    project = unique_project()
    first = _log(sqlite_client, tmp_path, project, FILES_A)
    second = _log(sqlite_client, tmp_path, project, FILES_B, "--alias", "best")
    assert (first["version"], second["version"]) == ("v0", "v1")
    assert first["digest"] != second["digest"]

    latest = _use(sqlite_client, tmp_path, project, "ds:latest")
    assert latest["version"] == "v1"
    assert sorted(latest["aliases"]) == ["best", "latest"]
    assert latest["files"] == FILES_B
    assert _use(sqlite_client, tmp_path, project, "ds:best")["files"] == FILES_B
    old = _use(sqlite_client, tmp_path, project, "ds:v0")
    assert (old["aliases"], old["files"]) == ([], FILES_A)

    # The same contents again: no new version; `latest` moves back to the existing one.
    again = _log(sqlite_client, tmp_path, project, FILES_A)
    assert again == first
    latest = _use(sqlite_client, tmp_path, project, "ds:latest")
    assert (latest["version"], latest["files"]) == ("v0", FILES_A)
    assert _use(sqlite_client, tmp_path, project, "ds:best")["version"] == "v1"
    assert "error" in _use(sqlite_client, tmp_path, project, "ds:v2")


def test_unknown_names_aliases_and_type_clash_are_client_errors(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    _log(sqlite_client, tmp_path, project, FILES_A)

    missing = _use(sqlite_client, tmp_path, project, "nope:latest")
    assert "nope:latest" in str(missing["error"])
    assert "not found" in str(missing["error"])
    unknown_alias = _use(sqlite_client, tmp_path, project, "ds:production")
    assert "ds:production" in str(unknown_alias["error"])

    clash = _log(sqlite_client, tmp_path, project, FILES_B, "--type", "model")
    assert "dataset" in str(clash["error"])

    with sqlite_server.api() as api:
        bad = api.post(
            "/graphql",
            json={
                "query": "mutation($i: CreateArtifactInput!) { createArtifact(input: $i) "
                "{ artifact { id } } }",
                "variables": {
                    "i": {
                        "entityName": "admin",
                        "projectName": project,
                        "artifactTypeName": "dataset",
                        "artifactCollectionName": "ds",
                        "digest": "0" * 32,
                        "aliases": [{"alias": "v9", "artifactCollectionName": "ds"}],
                    }
                },
            },
        ).json()
    assert bad["data"]["createArtifact"] is None
    assert "aliases" in bad["errors"][0]["message"]

    # Nothing was corrupted: the one version is intact and still `latest`.
    intact = _use(sqlite_client, tmp_path, project, "ds:latest")
    assert (intact["version"], intact["files"]) == ("v0", FILES_A)


def test_name_and_alias_rules() -> None:
    from runyard.server.tracking.artifacts import check_alias, check_collection_name, split_name
    from runyard.server.tracking.runs import TrackingError

    assert split_name("ds") == ("ds", "latest")
    assert split_name("ds:v3") == ("ds", "v3")
    assert split_name("ds:best") == ("ds", "best")
    assert check_alias("best") == "best"
    assert check_collection_name("my-data.v2_x") == "my-data.v2_x"
    for alias in ("v3", "a/b", "a:b", ""):
        with pytest.raises(TrackingError, match="aliases"):
            check_alias(alias)
    for name in ("a/b", "", "x" * 129, "sp ace"):
        with pytest.raises(TrackingError, match="artifactCollectionName"):
            check_collection_name(name)


CREATE = (
    """mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id state } } }"""
)
COMMIT = """mutation($id: ID!) { commitArtifact(input: {artifactID: $id}) { artifact { id } } }"""
FILES = """mutation($f: [CreateArtifactFileSpecInput!]!) {
  createArtifactFiles(input: {artifactFiles: $f}) { files { edges { node { uploadUrl } } } } }"""
LATEST = """query($p: String!) { project(name: $p, entityName: "admin") {
  artifact(name: "ds:latest") { versionIndex digest } } }"""


def gql(api: httpx.Client, query: str, **variables: object) -> Any:
    """POST a GraphQL request with the native API client; return the JSON body."""
    return api.post("/graphql", json={"query": query, "variables": variables}).json()


def test_incomplete_uploads_never_become_versions(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    first = _log(sqlite_client, tmp_path, project, FILES_A)
    spec = {
        "entityName": "admin",
        "projectName": project,
        "artifactTypeName": "dataset",
        "artifactCollectionName": "ds",
        "digest": "f" * 32,
        "clientID": "retry-me",
    }

    with sqlite_server.api() as api:
        created = gql(api, CREATE, i=spec)["data"]["createArtifact"]["artifact"]
        assert created["state"] == "PENDING"
        # A retried CreateArtifact (same clientID) gets the same pending version.
        again = gql(api, CREATE, i=spec)["data"]["createArtifact"]["artifact"]
        assert again["id"] == created["id"]

        unsafe = gql(api, FILES, f=[{"artifactID": created["id"], "name": "../x", "md5": "AA=="}])
        assert "artifactFiles" in unsafe["errors"][0]["message"]
        commit = gql(api, COMMIT, id=created["id"])
        assert "manifest" in commit["errors"][0]["message"]
        latest = gql(api, LATEST, p=project)["data"]["project"]["artifact"]
    assert latest == {"versionIndex": 0, "digest": first["digest"]}
