"""Public API fields beyond logging, with the official client (tests/scripts/run_extras.py):
run.logged_artifacts / used_artifacts, run.user, run.sweep, run.metadata, api.projects,
api.viewer, and jobs (`wandb job list`, api.list_jobs)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx

from conftest import CLIENT_PYTHON, ScriptResult, WandbClient, unique_project
from support.server import LiveServer

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")


def _result(result: ScriptResult) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.results) == 1, result.stdout + result.stderr
    return result.results[0]


def _gql(server: LiveServer, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        auth=("api", server.admin_key),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_runs_show_logged_and_used_artifacts_user_sweep_and_metadata(
    wandb_client: WandbClient, tmp_path: Path
) -> None:
    client, project = wandb_client, unique_project()
    src = tmp_path / "src"
    src.mkdir()
    (src / "rows.csv").write_text("x\n1\n")
    producer = _result(client.run("run_extras.py", "produce", project, str(src)))
    consumer = _result(client.run("run_extras.py", "consume", project))
    entity = producer["entity"]

    produced = _result(client.run("run_extras.py", "read", f"{entity}/{project}/{producer['id']}"))
    assert produced["logged"] == ["ds:v0|dataset"]
    assert produced["logged_per_page_1"] == ["ds:v0|dataset"]
    assert produced["used"] == []
    assert produced["user"]["username"] == "admin"
    assert produced["sweep"] is None
    # run.metadata is the run's wandb-metadata.json, read back through Run.files.
    metadata = produced["metadata"]
    assert isinstance(metadata, dict), metadata
    assert metadata["program"].endswith("run_extras.py")
    assert re.search(r"\d+\.\d+\.\d+", metadata["python"]), metadata["python"]

    consumed = _result(client.run("run_extras.py", "read", f"{entity}/{project}/{consumer['id']}"))
    assert consumed["used"] == ["ds:v0|dataset"]
    assert consumed["logged"] == ["model:v0|model"]

    listed = _result(client.run("run_extras.py", "projects", entity))
    assert project in listed["projects"]
    assert listed["viewer"] == {"username": "admin", "entity": entity}


def test_run_artifact_pages_follow_cursors_and_refuse_bad_sizes(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = unique_project()
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    run_id = _result(sqlite_client.run("run_extras.py", "produce", project, str(src)))["id"]
    query = """query($p: String!, $r: String!, $first: Int, $after: String) {
      project(name: $p, entityName: "admin") { run(name: $r) {
        outputArtifacts(first: $first, after: $after) {
          totalCount pageInfo { endCursor hasNextPage } edges { node { versionIndex } }
        }
      } } }"""
    first = _gql(sqlite_server, query, {"p": project, "r": run_id, "first": 1})
    page = first["data"]["project"]["run"]["outputArtifacts"]
    assert page["totalCount"] == 1 and len(page["edges"]) == 1
    assert page["pageInfo"]["hasNextPage"] is False
    after = page["pageInfo"]["endCursor"]
    rest = _gql(sqlite_server, query, {"p": project, "r": run_id, "after": after})
    assert rest["data"]["project"]["run"]["outputArtifacts"]["edges"] == []

    too_big = _gql(sqlite_server, query, {"p": project, "r": run_id, "first": 5000})
    assert "first: 5000 is out of range: ask for 1 to 1000" in too_big["errors"][0]["message"]
    bad_cursor = _gql(sqlite_server, query, {"p": project, "r": run_id, "after": "nonsense"})
    assert bad_cursor["errors"][0]["message"].startswith("after:")


def _cli(client: WandbClient, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [WANDB_CLI, *args], env=client.env, capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_jobs_are_listed_after_wandb_job_create(wandb_client: WandbClient, tmp_path: Path) -> None:
    client, project = wandb_client, unique_project()
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("import wandb\nwandb.init().finish()\n")
    (code / "requirements.txt").write_text("wandb\n")

    assert "No jobs found" in _cli(client, "job", "list", "-p", project, "-e", "admin")
    for _ in range(2):  # a second create with changed code is version v1 of the same job
        _cli(
            client,
            *("job", "create", "-p", project, "-e", "admin", "-n", "trainer"),
            *("-E", "python train.py", "code", str(code)),
        )
        (code / "train.py").write_text("import wandb\nwandb.init().finish()  # v1\n")

    listed = _cli(client, "job", "list", "-p", project, "-e", "admin")
    assert "trainer -- versions (3): v0,v1,latest" in listed
    jobs = _result(client.run("run_extras.py", "jobs", "admin", project))["jobs"]
    assert jobs == [
        {"name": "trainer", "aliases": [["latest", "v1"], ["v0"]], "states": ["COMMITTED"] * 2}
    ]
    # Artifacts of other types are not jobs.
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    _result(client.run("run_extras.py", "produce", project, str(src)))
    again = _result(client.run("run_extras.py", "jobs", "admin", project))["jobs"]
    assert [job["name"] for job in again] == ["trainer"]
