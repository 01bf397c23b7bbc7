"""Artifact edits with the official client: aliases, description, metadata, tags, TTL,
deleting versions and collections, the TTL sweeper and blob garbage collection."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import WandbClient, unique_project
from runyard.server.artifacts.sweeper import SweepResult, sweep_once
from runyard.server.clock import utcnow
from runyard.server.tracking.ids import decode_id
from support.server import LiveServer

# Long official-client round trips: `make test-e2e`, run by .ci/run after `make test`.
pytestmark = pytest.mark.e2e

FILES_A = {"a.txt": "first contents\n", "shared.csv": "x,y\n1,2\n"}
FILES_B = {"a.txt": "second, longer contents\n", "shared.csv": "x,y\n1,2\n"}
DAY = 86400


def steps(client: WandbClient, tmp: Path, project: str, *plan: dict[str, Any]) -> list[Any]:
    """Run the steps in one client process; one result per step."""
    scratch = tmp / f"steps-{len(list(tmp.glob('steps-*')))}"
    scratch.mkdir()
    result = client.run(
        "artifact_edits.py",
        "--project",
        project,
        "--steps",
        json.dumps(list(plan)),
        "--tmp",
        str(scratch),
    )
    assert result.returncode == 0, result.stderr
    assert len(result.results) == len(plan), result.stdout + result.stderr
    return result.results


def gql(server: LiveServer, query: str, **variables: Any) -> Any:
    """POST a GraphQL request as the admin; the JSON body."""
    with server.api() as api:
        return api.post("/graphql", json={"query": query, "variables": variables}).json()


def stored(server: LiveServer, key: str) -> int:
    """Size of an object-store key; 0 when it is not stored."""
    path = server.settings.data_dir / "objects" / key
    return path.stat().st_size if path.is_file() else 0


def stored_bytes(server: LiveServer, *version_ids: int) -> int:
    """Bytes stored under the versions' own object-store prefixes (files and manifests)."""
    root = server.settings.data_dir / "objects" / "artifacts"
    return sum(
        p.stat().st_size
        for version in version_ids
        for p in (root / str(version)).rglob("*")
        if p.is_file()
    )


def sweep(server: LiveServer, at: datetime) -> SweepResult:
    """One sweep of the server's artifact sweeper as if it ran at `at`."""
    return sweep_once(server.state, at)


def after_grace(server: LiveServer) -> datetime:
    """A moment past the blob GC grace period from now."""
    return utcnow() + timedelta(seconds=server.settings.artifact_gc_grace_s + 1)


@contextmanager
def server_time_moved(server: LiveServer, by: timedelta) -> Iterator[None]:
    """Requests to the server see its clock moved by `by`."""
    server.state.clock = lambda: utcnow() + by
    try:
        yield
    finally:
        server.state.clock = utcnow


def test_alias_add_and_remove_are_visible_to_use_artifact_at_once(
    wandb_client: WandbClient, server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    logged = steps(
        wandb_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A},
        {"do": "log", "name": "ds", "files": FILES_B},
        {"do": "edit", "name": "ds:v0", "add_aliases": ["best", "golden"]},
        {"do": "use", "name": "ds:best"},
        {"do": "get", "name": "ds:golden"},
        {"do": "edit", "name": "ds:v0", "remove_aliases": ["best"]},
        {"do": "use", "name": "ds:best"},
        {"do": "edit", "name": "ds:v1", "add_aliases": ["golden"]},
        {"do": "use", "name": "ds:golden"},
        {"do": "get", "name": "ds:v0"},
    )
    assert [r["version"] for r in logged[:2]] == ["v0", "v1"]
    assert logged[2]["aliases"] == ["best", "golden"]
    assert logged[3] == {"version": "v0", "files": FILES_A}
    assert logged[4]["version"] == "v0"
    assert logged[5]["aliases"] == ["golden"]
    assert "ds:best" in logged[6]["error"]
    # An alias names one version: adding it to v1 moves it off v0.
    assert logged[8] == {"version": "v1", "files": FILES_B}
    assert logged[9]["aliases"] == []


def test_deleting_a_version_frees_only_the_bytes_no_other_version_uses(
    wandb_client: WandbClient, server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    logged = steps(
        wandb_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A},
        {"do": "log", "name": "ds", "files": FILES_B},
    )
    assert [r["version"] for r in logged] == ["v0", "v1"]
    v0, v1 = (decode_id("Artifact", r["id"]) for r in logged)
    v0_manifest = stored(server, f"artifacts/{v0}/manifest/wandb_manifest.json")
    before = stored_bytes(server, v0, v1)
    # v1's shared.csv reuses v0's stored copy (same digest): it is stored once, under v0.
    assert before == sum(len(t) for t in FILES_A.values()) + len(FILES_B["a.txt"]) + (
        v0_manifest + stored(server, f"artifacts/{v1}/manifest/wandb_manifest.json")
    )

    # v0 has no aliases any more (`latest` moved to v1): it deletes without delete_aliases.
    deleted = steps(wandb_client, tmp_path, project, {"do": "delete", "name": "ds:v0"})
    assert deleted == [{"deleted": "ds:v0"}]
    # Within the grace period nothing is removed: an upload that started before the delete
    # may still be about to reuse the bytes.
    sweep(server, utcnow())
    assert stored_bytes(server, v0, v1) == before

    sweep(server, after_grace(server))
    # v0's own a.txt and its manifest are gone; shared.csv stays, v1 uses the same bytes.
    assert stored_bytes(server, v0, v1) == before - len(FILES_A["a.txt"]) - v0_manifest
    assert stored(server, f"artifacts/{v0}/files/shared.csv") == len(FILES_A["shared.csv"])
    after = steps(
        wandb_client,
        tmp_path,
        project,
        {"do": "use", "name": "ds:latest"},
        {"do": "use", "name": "ds:v0"},
        # The deleted v0's number is not handed out again: the next version is v2.
        {"do": "log", "name": "ds", "files": {"c.txt": "third\n"}},
    )
    assert after[0] == {"version": "v1", "files": FILES_B}
    assert "ds:v0" in after[1]["error"]
    assert after[2]["version"] == "v2"
    v2 = decode_id("Artifact", after[2]["id"])

    # Deleting the rest frees every byte the collection stored.
    gone = steps(
        wandb_client,
        tmp_path,
        project,
        {"do": "delete", "name": "ds:v1"},
        {"do": "delete", "name": "ds:v2", "delete_aliases": True},
    )
    assert gone == [{"deleted": "ds:v1"}, {"deleted": "ds:v2"}]
    sweep(server, after_grace(server))
    assert stored_bytes(server, v0, v1, v2) == 0


SET_COLLECTION = """mutation($i: UpdateArtifactSequenceInput!) {
  updateArtifactSequence(input: $i) { artifactCollection { id name state ttlDurationSeconds } } }"""
COLLECTION_ID = """query($p: String!, $a: String!) { project(name: $p, entityName: "admin") {
  artifact(name: $a) { artifactSequence { id } } } }"""


def collection_id(server: LiveServer, project: str, name: str) -> str:
    """The node id of the collection of version `name`."""
    body = gql(server, COLLECTION_ID, p=project, a=name)
    return str(body["data"]["project"]["artifact"]["artifactSequence"]["id"])


def test_ttl_per_version_or_inherited_and_expired_versions_deleted_by_the_sweep_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    first = steps(
        sqlite_client,
        tmp_path,
        project,
        # v0: its own TTL of a day, given at log time.
        {"do": "log", "name": "ds", "files": {"v0.txt": "0\n"}, "ttl": DAY},
        {"do": "log", "name": "ds", "files": {"v1.txt": "1\n"}},
        {"do": "log", "name": "ds", "files": {"v2.txt": "2\n"}},
        {"do": "get", "name": "ds:v0"},
        # v1 inherits the collection's default (none yet): it reads back as no TTL.
        {"do": "get", "name": "ds:v1"},
        # v2: no TTL at all, even when the collection gets a default.
        {"do": "edit", "name": "ds:v2", "ttl": "none"},
    )
    assert first[3]["ttl"] == DAY
    assert first[4]["ttl"] is None
    assert first[5]["ttl"] is None

    seq = collection_id(sqlite_server, project, "ds:v1")
    body = gql(
        sqlite_server, SET_COLLECTION, i={"artifactSequenceID": seq, "ttlDurationSeconds": 3 * DAY}
    )
    assert (
        body["data"]["updateArtifactSequence"]["artifactCollection"]["ttlDurationSeconds"]
        == 3 * DAY
    )
    inherited = gql(
        sqlite_server,
        """query($p: String!) { project(name: $p, entityName: "admin") {
          v1: artifact(name: "ds:v1") { ttlDurationSeconds ttlIsInherited }
          v2: artifact(name: "ds:v2") { ttlDurationSeconds ttlIsInherited } } }""",
        p=project,
    )["data"]["project"]
    assert inherited["v1"] == {"ttlDurationSeconds": 3 * DAY, "ttlIsInherited": True}
    assert inherited["v2"] == {"ttlDurationSeconds": -2, "ttlIsInherited": False}
    seen = steps(sqlite_client, tmp_path, project, {"do": "get", "name": "ds:v1"})
    assert seen[0]["ttl"] == 3 * DAY

    now = utcnow()
    assert sweep(sqlite_server, now).expired == 0
    # A day and a half later v0 is past its own TTL; the sweep deletes it, and a second
    # sweep (another replica) finds nothing more to do.
    assert sweep(sqlite_server, now + timedelta(days=1.5)).expired == 1
    assert sweep(sqlite_server, now + timedelta(days=1.5)).expired == 0
    # Four days later v1 is past the collection's TTL; v2 never expires.
    assert sweep(sqlite_server, now + timedelta(days=4)).expired == 1
    after = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "use", "name": "ds:v0"},
        {"do": "use", "name": "ds:v1"},
        {"do": "use", "name": "ds:latest"},
    )
    assert "ds:v0" in after[0]["error"]
    assert "ds:v1" in after[1]["error"]
    assert after[2] == {"version": "v2", "files": {"v2.txt": "2\n"}}


def test_latest_moves_back_when_its_version_expires_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": {"v0.txt": "0\n"}},
        {"do": "log", "name": "ds", "files": {"v1.txt": "1\n"}, "ttl": 3600, "aliases": ["best"]},
    )
    assert sweep(sqlite_server, utcnow() + timedelta(hours=2)).expired >= 1
    after = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "use", "name": "ds:latest"},
        {"do": "use", "name": "ds:best"},
    )
    assert after[0] == {"version": "v0", "files": {"v0.txt": "0\n"}}
    assert "ds:best" in after[1]["error"]


ADD_ALIASES = """mutation($i: AddAliasesInput!) { addAliases(input: $i) { success } }"""
UPDATE = """mutation($i: UpdateArtifactInput!) { updateArtifact(input: $i) {
  artifact { description tags { name } ttlDurationSeconds ttlIsInherited } } }"""
VERSION = """query($p: String!, $a: String!) { project(name: $p, entityName: "admin") {
  artifact(name: $a) { id description tags { name } ttlDurationSeconds aliases { alias } } } }"""


def version(server: LiveServer, project: str, name: str) -> Any:
    """A version as the server answers it (null when there is none)."""
    return gql(server, VERSION, p=project, a=name)["data"]["project"]["artifact"]


def error_of(body: Any) -> str:
    """The one error message of a refused GraphQL mutation."""
    assert len(body["errors"]) == 1, body
    return str(body["errors"][0]["message"])


def test_an_alias_on_a_missing_or_deleted_version_is_refused_and_nothing_is_written_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    results = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A},
        {"do": "log", "name": "ds", "files": FILES_B},
        # Two views of v0: one deletes it, the other then tries to give it an alias.
        {"do": "hold", "name": "ds:v0", "as": "stale"},
        {"do": "delete", "name": "ds:v0"},
        {"do": "edit", "held": "stale", "add_aliases": ["best"]},
        {"do": "use", "name": "ds:best"},
    )
    assert "ds:v0 was deleted" in results[4]["error"]
    assert "ds:best" in results[5]["error"]

    v1 = version(sqlite_server, project, "ds:v1")
    target = {"entityName": "admin", "projectName": project, "artifactCollectionName": "ds"}
    for missing in ("QXJ0aWZhY3Q6OTk5OTk5", "not-an-id"):
        body = gql(
            sqlite_server,
            ADD_ALIASES,
            i={"artifactID": missing, "aliases": [{**target, "alias": "best"}]},
        )
        assert body["data"]["addAliases"] is None
        assert error_of(body).startswith("artifactID:")
    # One bad alias in the list refuses them all: `fine` is not added either.
    body = gql(
        sqlite_server,
        ADD_ALIASES,
        i={
            "artifactID": v1["id"],
            "aliases": [{**target, "alias": "fine"}, {**target, "alias": "v7"}],
        },
    )
    assert "v7" in error_of(body)
    other = {**target, "artifactCollectionName": "other"}
    body = gql(
        sqlite_server, ADD_ALIASES, i={"artifactID": v1["id"], "aliases": [{**other, "alias": "x"}]}
    )
    assert "own collection" in error_of(body)
    assert version(sqlite_server, project, "ds:v1")["aliases"] == [
        {"alias": "latest"},
        {"alias": "v1"},
    ]
    assert version(sqlite_server, project, "ds:fine") is None


def test_deleting_a_version_an_alias_points_to_needs_delete_aliases_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    results = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A},
        {"do": "log", "name": "ds", "files": FILES_B, "aliases": ["best"]},
        {"do": "delete", "name": "ds:v1"},
        {"do": "use", "name": "ds:best"},
        {"do": "delete", "name": "ds:v1", "delete_aliases": True},
        {"do": "use", "name": "ds:latest"},
        {"do": "use", "name": "ds:best"},
    )
    refused = results[2]["error"]
    assert "ds:v1 still has the aliases best, latest" in refused
    assert "delete_aliases=True" in refused
    # Refused means untouched: v1 and its files are all there.
    assert results[3] == {"version": "v1", "files": FILES_B}
    assert results[4] == {"deleted": "ds:v1"}
    # `latest` moved back to v0; `best` went with v1.
    assert results[5] == {"version": "v0", "files": FILES_A}
    assert "ds:best" in results[6]["error"]


def test_a_ttl_in_the_past_or_not_positive_is_refused_and_nothing_is_written_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A},
        {"do": "edit", "name": "ds:v0", "description": "kept", "ttl": 30 * DAY},
    )
    # Two days later a TTL of one day would have ended a day ago.
    with server_time_moved(sqlite_server, timedelta(days=2)):
        late = steps(
            sqlite_client,
            tmp_path,
            project,
            {"do": "edit", "name": "ds:v0", "description": "changed", "ttl": DAY},
            {"do": "edit", "name": "ds:v0", "ttl": 3 * DAY},
        )
    assert "ttlDurationSeconds: a TTL of 86400 s ended at" in late[0]["error"]
    assert "in the past" in late[0]["error"]
    # Nothing of the refused save was written; a TTL that has not run out yet is taken.
    assert late[1]["ttl"] == 3 * DAY
    assert late[1]["description"] == "kept"

    v0 = version(sqlite_server, project, "ds:v0")
    for bad in (-5, 0, 10**12):
        body = gql(
            sqlite_server,
            UPDATE,
            i={"artifactID": v0["id"], "ttlDurationSeconds": bad, "description": "nope"},
        )
        assert body["data"]["updateArtifact"] is None
        assert error_of(body).startswith(f"ttlDurationSeconds: {bad} is not a TTL")
    assert version(sqlite_server, project, "ds:v0")["description"] == "kept"
    assert version(sqlite_server, project, "ds:v0")["ttlDurationSeconds"] == 3 * DAY


def test_version_tags_round_trip_and_invalid_tags_are_refused_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    results = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A, "tags": ["nightly"]},
        {"do": "get", "name": "ds:v0"},
        {
            "do": "edit",
            "name": "ds:v0",
            "tags": ["nightly", "team a", "eval-set_2"],
            "description": "the eval split",
            "metadata": {"rows": 2, "split": "eval"},
        },
        {"do": "edit", "name": "ds:v0", "tags": ["team a"]},
        {"do": "edit", "name": "ds:v0", "tags": ["bad/tag"]},
        {"do": "get", "name": "ds:v0"},
    )
    assert results[1]["tags"] == ["nightly"]
    assert results[2]["tags"] == ["eval-set_2", "nightly", "team a"]
    assert results[2]["description"] == "the eval split"
    assert results[2]["metadata"] == {"rows": 2, "split": "eval"}
    assert results[3]["tags"] == ["team a"]
    # The client checks tags itself; the server refuses them too (below).
    assert "Invalid tag" in results[4]["error"]
    assert results[5]["tags"] == ["team a"]

    v0 = version(sqlite_server, project, "ds:v0")
    for bad in ("bad/tag", "trailing ", "", "x" * 129, "semi;colon"):
        body = gql(
            sqlite_server,
            UPDATE,
            i={
                "artifactID": v0["id"],
                "description": "nope",
                "tagsToAdd": [{"tagName": "fine"}, {"tagName": bad}],
            },
        )
        assert body["data"]["updateArtifact"] is None
        assert f"tagsToAdd: {bad!r} is not a valid tag" in error_of(body)
    after = version(sqlite_server, project, "ds:v0")
    assert (after["description"], after["tags"]) == ("the eval split", [{"name": "team a"}])
    # Null tag lists (older clients) change no tags.
    body = gql(
        sqlite_server,
        UPDATE,
        i={"artifactID": v0["id"], "tagsToAdd": None, "tagsToDelete": None, "description": "d"},
    )
    assert body["data"]["updateArtifact"]["artifact"]["tags"] == [{"name": "team a"}]


MOVE = """mutation($i: MoveArtifactSequenceInput!) {
  moveArtifactSequence(input: $i) { artifactCollection { id name } } }"""
DELETE_COLLECTION = """mutation($id: ID!) { deleteArtifactSequence(input: {artifactSequenceID: $id})
  { artifactCollection { __typename state } } }"""
ADD_TAGS = """mutation($i: CreateArtifactCollectionTagAssignmentsInput!) {
  createArtifactCollectionTagAssignments(input: $i) { tags { __typename id name } } }"""
DELETE_TAGS = """mutation($i: DeleteArtifactCollectionTagAssignmentsInput!) {
  deleteArtifactCollectionTagAssignments(input: $i) { success } }"""


def collection_row(server: LiveServer, project: str, name: str) -> Any:
    """The stored collection (description and tags are read by the listing queries)."""
    from sqlalchemy import select

    from runyard.server.db.models import ArtifactCollection, Project
    from runyard.server.unit_of_work import UnitOfWork

    with UnitOfWork(server.state) as uow:
        return uow.session.scalars(
            select(ArtifactCollection)
            .join(Project, Project.id == ArtifactCollection.project_id)
            .where(Project.name == project, ArtifactCollection.name == name)
        ).first()


def test_collection_description_name_and_tags_edits_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    steps(sqlite_client, tmp_path, project, {"do": "log", "name": "ds", "files": FILES_A})
    seq = collection_id(sqlite_server, project, "ds:v0")
    renamed = gql(
        sqlite_server,
        SET_COLLECTION,
        i={"artifactSequenceID": seq, "name": "ds-renamed", "description": "eval data"},
    )["data"]["updateArtifactSequence"]["artifactCollection"]
    assert (renamed["name"], renamed["state"]) == ("ds-renamed", "READY")
    where = {"entityName": "admin", "projectName": project, "artifactCollectionName": "ds-renamed"}
    added = gql(
        sqlite_server, ADD_TAGS, i={**where, "tags": [{"tagName": "eval"}, {"tagName": "team a"}]}
    )["data"]["createArtifactCollectionTagAssignments"]["tags"]
    assert [t["name"] for t in added] == ["eval", "team a"]
    assert added[0]["__typename"] == "Tag"
    assert gql(sqlite_server, DELETE_TAGS, i={**where, "tags": [{"tagName": "eval"}]})["data"] == {
        "deleteArtifactCollectionTagAssignments": {"success": True}
    }
    row = collection_row(sqlite_server, project, "ds-renamed")
    assert (row.description, row.tags) == ("eval data", ["team a"])
    used = steps(sqlite_client, tmp_path, project, {"do": "use", "name": "ds-renamed:v0"})
    assert used == [{"version": "v0", "files": FILES_A}]

    # Bad input: refused with the field named, nothing changed.
    bad_tag = gql(
        sqlite_server, ADD_TAGS, i={**where, "tags": [{"tagName": "ok"}, {"tagName": "a/b"}]}
    )
    assert error_of(bad_tag).startswith("tags: 'a/b' is not a valid tag")
    steps(sqlite_client, tmp_path, project, {"do": "log", "name": "other", "files": FILES_B})
    clash = gql(
        sqlite_server,
        SET_COLLECTION,
        i={"artifactSequenceID": seq, "name": "other", "description": "x"},
    )
    assert "already has an artifact collection 'other'" in error_of(clash)
    bad_ttl = gql(
        sqlite_server, SET_COLLECTION, i={"artifactSequenceID": seq, "ttlDurationSeconds": -1}
    )
    assert error_of(bad_ttl).startswith("ttlDurationSeconds:")
    missing = gql(
        sqlite_server, ADD_TAGS, i={**where, "artifactCollectionName": "nope", "tags": []}
    )
    assert "no artifact collection 'nope'" in error_of(missing)
    row = collection_row(sqlite_server, project, "ds-renamed")
    assert (row.name, row.description, row.tags) == ("ds-renamed", "eval data", ["team a"])

    # A collection moves to another type with its versions.
    for bad_type in ("wandb-history", "a/b"):
        moved = gql(
            sqlite_server,
            MOVE,
            i={"artifactSequenceID": seq, "destinationArtifactTypeName": bad_type},
        )
        assert error_of(moved).startswith("destinationArtifactTypeName:")
    moved = gql(
        sqlite_server, MOVE, i={"artifactSequenceID": seq, "destinationArtifactTypeName": "model"}
    )
    assert not moved.get("errors"), moved
    typed = gql(
        sqlite_server,
        """query($p: String!) { project(name: $p, entityName: "admin") {
          artifact(name: "ds-renamed:v0") { artifactType { name } } } }""",
        p=project,
    )
    assert typed["data"]["project"]["artifact"]["artifactType"]["name"] == "model"


def test_deleting_a_collection_removes_its_versions_and_frees_their_bytes_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    logged = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A},
        {"do": "log", "name": "ds", "files": FILES_B, "aliases": ["best"]},
    )
    ids = [decode_id("Artifact", r["id"]) for r in logged]
    assert stored_bytes(sqlite_server, *ids) > 0
    seq = collection_id(sqlite_server, project, "ds:v0")
    body = gql(sqlite_server, DELETE_COLLECTION, id=seq)
    assert body["data"]["deleteArtifactSequence"]["artifactCollection"] == {
        "__typename": "ArtifactSequence",
        "state": "DELETED",
    }
    again = gql(sqlite_server, DELETE_COLLECTION, id=seq)
    assert error_of(again).startswith("artifactSequenceID: no artifact collection")
    after = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "use", "name": "ds:best"},
        # The name is free again: a new collection starts at v0.
        {"do": "log", "name": "ds", "files": {"new.txt": "new\n"}},
    )
    assert "ds:best" in after[0]["error"]
    assert after[1]["version"] == "v0"
    sweep(sqlite_server, after_grace(sqlite_server))
    # On SQLite a new version may reuse a deleted one's id; keep its bytes out of the sum.
    new_id = decode_id("Artifact", after[1]["id"])
    assert stored_bytes(sqlite_server, *(i for i in ids if i != new_id)) == 0
    assert steps(sqlite_client, tmp_path, project, {"do": "use", "name": "ds:latest"}) == [
        {"version": "v0", "files": {"new.txt": "new\n"}}
    ]


def test_deleting_a_run_with_its_artifacts_deletes_its_versions_and_their_bytes_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    first = steps(sqlite_client, tmp_path, project, {"do": "log", "name": "ds", "files": FILES_A})
    second = steps(sqlite_client, tmp_path, project, {"do": "log", "name": "ds", "files": FILES_B})
    run = gql(
        sqlite_server,
        """query($p: String!, $r: String!) { project(name: $p, entityName: "admin") {
          run(name: $r) { id } } }""",
        p=project,
        r=second[0]["run"],
    )["data"]["project"]["run"]["id"]
    body = gql(
        sqlite_server,
        "mutation($id: ID!) { deleteRun(input: {id: $id, deleteArtifacts: true}) "
        "{ clientMutationId } }",
        id=run,
    )
    assert not body.get("errors"), body
    v0, v1 = (decode_id("Artifact", r[0]["id"]) for r in (first, second))
    sweep(sqlite_server, after_grace(sqlite_server))
    # v1's own a.txt and manifest are gone; what v0 stores (shared.csv too) stays.
    assert stored_bytes(sqlite_server, v1) == 0
    assert stored_bytes(sqlite_server, v0) > sum(len(t) for t in FILES_A.values())
    assert steps(sqlite_client, tmp_path, project, {"do": "use", "name": "ds:latest"}) == [
        {"version": "v0", "files": FILES_A}
    ]


def test_bytes_uploaded_through_a_stale_url_of_a_deleted_version_are_collected_sqlite(
    sqlite_server: LiveServer,
) -> None:
    project = unique_project()
    made = gql(
        sqlite_server,
        "mutation($i: UpsertModelInput!) { upsertModel(input: $i) { project { id } } }",
        i={"name": project, "entityName": "admin"},
    )
    assert not made.get("errors"), made
    created = gql(
        sqlite_server,
        """mutation($i: CreateArtifactInput!) { createArtifact(input: $i) { artifact { id } } }""",
        i={
            "entityName": "admin",
            "projectName": project,
            "artifactTypeName": "dataset",
            "artifactCollectionName": "ds",
            "digest": "0" * 32,
        },
    )["data"]["createArtifact"]["artifact"]["id"]
    data = b"late bytes\n"
    md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    files = gql(
        sqlite_server,
        """mutation($f: [CreateArtifactFileSpecInput!]!) { createArtifactFiles(
          input: {artifactFiles: $f}) { files { edges { node { uploadUrl storagePath } } } } }""",
        f=[{"artifactID": created, "name": "late.txt", "md5": md5}],
    )["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]
    # The pending version is deleted while its client still holds the upload URL ...
    deleted = gql(
        sqlite_server,
        "mutation($id: ID!) { deleteArtifact(input: {artifactID: $id}) { artifact { id state } } }",
        id=created,
    )["data"]["deleteArtifact"]["artifact"]
    assert deleted["state"] == "DELETED"
    sweep(sqlite_server, after_grace(sqlite_server))
    # ... and uploads after the collector ran: nothing references the bytes, so they are
    # a candidate themselves and go at a later sweep.
    assert httpx.put(files["uploadUrl"], content=data).status_code < 300
    assert stored(sqlite_server, files["storagePath"]) == len(data)
    sweep(sqlite_server, after_grace(sqlite_server))
    assert stored(sqlite_server, files["storagePath"]) == 0
    # The deleted version takes no more files and refuses to be committed.
    more = gql(
        sqlite_server,
        """mutation($f: [CreateArtifactFileSpecInput!]!) { createArtifactFiles(
          input: {artifactFiles: $f}) { files { edges { node { uploadUrl } } } } }""",
        f=[{"artifactID": created, "name": "more.txt", "md5": md5}],
    )
    assert "was deleted" in error_of(more)
    commit = gql(
        sqlite_server,
        "mutation($id: ID!) { commitArtifact(input: {artifactID: $id}) { artifact { id } } }",
        id=created,
    )
    assert "was deleted" in error_of(commit)


def test_collection_description_and_tags_saved_and_collection_deleted_with_the_client_sqlite(
    sqlite_client: WandbClient, sqlite_server: LiveServer, tmp_path: Path
) -> None:
    project = unique_project()
    results = steps(
        sqlite_client,
        tmp_path,
        project,
        {"do": "log", "name": "ds", "files": FILES_A},
        {"do": "log", "name": "ds", "files": FILES_B},
        {"do": "delete", "name": "ds:v0"},
        {"do": "collection", "name": "ds"},
        {"do": "collection", "name": "ds", "description": "eval data", "tags": ["eval", "team a"]},
        {"do": "collection", "name": "ds", "tags": ["team a"]},
        {"do": "collection", "name": "ds", "tags": ["bad/tag"]},
        {"do": "delete_collection", "name": "ds"},
        {"do": "use", "name": "ds:latest"},
    )
    # The deleted v0 is not listed.
    assert results[3] == {"name": "ds", "description": None, "tags": [], "versions": ["v1"]}
    assert results[4] == {
        "name": "ds",
        "description": "eval data",
        "tags": ["eval", "team a"],
        "versions": ["v1"],
    }
    assert results[5]["tags"] == ["team a"]
    # The client refuses the tag itself (its wording varies by release).
    assert "alphanumeric characters" in results[6]["error"]
    assert results[7] == {"deleted": "ds"}
    assert "ds:latest" in results[8]["error"]
