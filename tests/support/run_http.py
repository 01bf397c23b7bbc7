"""Small HTTP helpers for tests that drive a run through GraphQL, file_stream and REST."""

from __future__ import annotations

import json
import uuid

import httpx

from support.server import LiveServer

UPSERT = """
mutation($name: String, $project: String) {
  upsertBucket(input: {name: $name, modelName: $project}) { bucket { id name } }
}
"""
RUN_FILES = """
mutation($project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: "admin", projectName: $project, runName: $run,
                         files: $files}) { files { name uploadUrl } }
}
"""


def graphql(server: LiveServer, query: str, **variables: object) -> httpx.Response:
    """POST one GraphQL operation as the admin."""
    # A fresh connection per request: an answer that ends a connection cannot spoil the next.
    with server.api() as api:
        return api.post("/graphql", json={"query": query, "variables": variables})


def new_run(server: LiveServer) -> tuple[str, str]:
    """Create run `r1` in a fresh project of the admin; return (project, run)."""
    project = f"p-{uuid.uuid4().hex[:8]}"
    response = graphql(server, UPSERT, name="r1", project=project)
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    return project, "r1"


def file_stream(server: LiveServer, project: str, run: str, body: object) -> httpx.Response:
    """POST a file_stream body for the admin's run."""
    with server.api() as api:
        return api.post(f"/files/admin/{project}/{run}/file_stream", json=body)


def history_lines(start: int, stop: int, pad: int = 0) -> list[str]:
    """History lines for steps start..stop-1, each padded with `pad` characters."""
    return [json.dumps({"_step": i, "loss": i / 10, "pad": "x" * pad}) for i in range(start, stop)]


def history(server: LiveServer, project: str, run: str) -> list[dict[str, object]]:
    """The run's stored history rows."""
    with server.api() as api:
        response = api.get(f"/api/v1/runs/admin/{project}/{run}/history", params={"limit": 10000})
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()["rows"]
    return rows


def loss_count(server: LiveServer, project: str, run: str) -> int:
    """How many `loss` points the run's chart buckets hold (each stored point counted once)."""
    with server.api() as api:
        series = api.get(
            f"/api/v1/runs/admin/{project}/{run}/history/sampled", params={"keys": "loss"}
        ).json()["series"]["loss"]
    return sum(bucket["count"] for bucket in series)
