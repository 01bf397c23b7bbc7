"""The workspace's media read through the media index that ingest fills: thinned evenly per
run and key, carried along by forks and rewinds, rebuilt for old history by its migration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import WandbClient, unique_project
from runyard.server.workspaces.media import MAX_STEPS
from support.server import LiveServer

STEPS = 1203


def _media(server: LiveServer, project: str, *runs: str) -> dict[str, Any]:
    with server.api() as api:
        answer = api.get(f"/api/v1/projects/admin/{project}/media", params={"runs": ",".join(runs)})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _steps(found: dict[str, Any], key: str, run: str) -> list[int]:
    return [entry["step"] for entry in found[key]["runs"][run]]


def _log(client: WandbClient, project: str, run_id: str, steps: int, *extra: str) -> int:
    result = client.run(
        "media_steps.py",
        *("--project", project, "--run-id", run_id, "--steps", str(steps), *extra),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return int(str(result.results[0]["start"]))


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, sqlite_server: LiveServer
) -> Iterator[tuple[str, str]]:
    """A run that logged a histogram on each of 1203 steps and an image every 100th step."""
    client = WandbClient(tmp_path_factory.mktemp("media-index"), sqlite_server)
    project, run_id = unique_project(), uuid.uuid4().hex[:8]
    _log(client, project, run_id, STEPS, "--image-every", "100")
    yield project, run_id
    client.kill_leftovers()


def test_a_long_runs_media_is_thinned_evenly_keeping_the_newest_step(
    sqlite_server: LiveServer, logged: tuple[str, str]
) -> None:
    project, run_id = logged
    found = _media(sqlite_server, project, run_id)
    assert sorted(found) == ["img", "w"]
    assert found["w"]["kind"] == "histogram" and found["img"]["kind"] == "image"
    # Few images come whole; the histogram's 1203 steps are thinned to MAX_STEPS.
    assert _steps(found, "img", run_id) == list(range(0, STEPS, 100))
    assert [e["captions"] for e in found["img"]["runs"][run_id][:2]] == [["0"], ["100"]]
    wanted = sorted({i * STEPS // MAX_STEPS for i in range(MAX_STEPS - 1)} | {STEPS - 1})
    assert _steps(found, "w", run_id) == wanted
    # Each value is the one logged at its step.
    for entry in found["w"]["runs"][run_id]:
        assert entry["bins"] == [entry["step"], entry["step"] + 1]


def test_forks_and_rewinds_keep_the_media_of_the_steps_they_keep(
    tmp_path: Path, server: LiveServer
) -> None:
    client = WandbClient(tmp_path, server)
    project, parent, child = unique_project(), uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    try:
        _log(client, project, parent, 30, "--image-every", "10")
        start = _log(client, project, child, 5, "--fork-from", f"{parent}?_step=14")
        assert start == 15
        found = _media(server, project, parent, child)
        assert _steps(found, "w", child) == list(range(20))
        assert _steps(found, "img", child) == [0, 10]
        assert _steps(found, "w", parent) == list(range(30))
        # A rewind keeps the run's id: its media are those up to the step, then the new ones.
        start = _log(client, project, parent, 3, "--resume-from", f"{parent}?_step=21")
        assert start == 22
        found = _media(server, project, parent)
        assert _steps(found, "w", parent) == list(range(25))
        assert _steps(found, "img", parent) == [0, 10, 20]
    finally:
        client.kill_leftovers()


def test_the_migration_indexes_the_media_already_logged(
    sqlite_server: LiveServer, logged: tuple[str, str]
) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from runyard.server.db import migrate

    project, run_id = logged
    before = _media(sqlite_server, project, run_id)
    engine = sqlite_server.state.engine
    command.downgrade(migrate.alembic_config(engine), "0020-1")
    assert "media_lines" not in inspect(engine).get_table_names()
    migrate.upgrade(engine)
    assert _media(sqlite_server, project, run_id) == before
