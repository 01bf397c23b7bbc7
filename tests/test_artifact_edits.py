"""Artifact edits with the official client: aliases, description, metadata, tags, TTL,
deleting versions and collections, the TTL sweeper and blob garbage collection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import WandbClient, unique_project
from runyard.server.artifacts.sweeper import SweepResult, sweep_once
from runyard.server.clock import utcnow
from support.server import LiveServer

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


def artifact_bytes(server: LiveServer) -> int:
    """Bytes stored under the object store's artifacts/ prefix."""
    root = server.settings.data_dir / "objects" / "artifacts"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


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
