"""One run search behind three adapters: REST, GraphQL and the UI's runs table agree.

The same filter and order sent to `/api/v1/runs`, to GraphQL's `Project.runs`/`runCount`
and to the UI's CSV export return the same runs in the same order, and a bad filter is
refused by each with the same message.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from conftest import unique_project
from support.server import LiveServer

UPSERT = """
mutation Upsert($name: String, $project: String, $config: JSONString) {
  upsertBucket(input: {name: $name, modelName: $project, config: $config}) { inserted }
}
"""
RUNS = """
query Runs($project: String!, $filters: JSONString, $order: String) {
  project(name: $project, entityName: "admin") {
    runCount(filters: $filters)
    runs(filters: $filters, order: $order, first: 100) { edges { node { name } } }
  }
}
"""
LEARNING_RATES = {"a": 0.1, "b": 0.001, "c": 0.05, "d": 0.3, "e": 0.01}
FILTERS = json.dumps({"config.lr": {"$gt": 0.01}})
ORDER = "+config.lr"
EXPECTED = ["c", "a", "d"]  # lr 0.05, 0.1, 0.3


def _make_runs(api: httpx.Client, project: str) -> None:
    for name, lr in LEARNING_RATES.items():
        config = json.dumps({"lr": {"value": lr}})
        variables = {"name": name, "project": project, "config": config}
        response = api.post("/graphql", json={"query": UPSERT, "variables": variables})
        assert response.status_code == 200 and "errors" not in response.json(), response.text


@contextmanager
def _ui(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, follow_redirects=False) as browser:
        assert browser.post("/login", data={"api_key": server.admin_key}).status_code == 303
        yield browser


def test_rest_graphql_and_ui_return_the_same_runs(server: LiveServer) -> None:
    project = unique_project()
    with server.api() as api:
        _make_runs(api, project)
        rest = api.get(
            "/api/v1/runs",
            params={"project": f"admin/{project}", "filters": FILTERS, "order": ORDER},
        ).json()
        variables = {"project": project, "filters": FILTERS, "order": ORDER}
        graphql = api.post("/graphql", json={"query": RUNS, "variables": variables}).json()
    with _ui(server) as browser:
        exported = browser.get(
            f"/admin/{project}/table.csv", params={"filters": FILTERS, "order": ORDER}
        )
    assert exported.status_code == 200, exported.text
    ui_names = [row["id"] for row in csv.DictReader(io.StringIO(exported.text))]
    graphql_project = graphql["data"]["project"]
    graphql_names = [edge["node"]["name"] for edge in graphql_project["runs"]["edges"]]
    assert [run["id"] for run in rest["runs"]] == EXPECTED
    assert graphql_names == EXPECTED
    assert ui_names == EXPECTED
    assert rest["total"] == graphql_project["runCount"] == len(EXPECTED)


def test_a_bad_filter_is_refused_alike_by_every_adapter(server: LiveServer) -> None:
    project = unique_project()
    bad = json.dumps({"config.lr": {"$between": [1, 2]}})
    with server.api() as api:
        _make_runs(api, project)
        rest = api.get("/api/v1/runs", params={"project": f"admin/{project}", "filters": bad})
        variables = {"project": project, "filters": bad, "order": None}
        graphql = api.post("/graphql", json={"query": RUNS, "variables": variables}).json()
    with _ui(server) as browser:
        page = browser.get(f"/admin/{project}/table", params={"filters": bad})
        exported = browser.get(f"/admin/{project}/table.csv", params={"filters": bad})
    message = rest.json()["detail"]
    assert rest.status_code == 400
    assert message.startswith("invalid filter") and "$between" in message
    error = graphql["errors"][0]
    assert error["message"] == message
    assert error["extensions"]["code"] == "invalid"
    assert page.status_code == 400 and "$between" in page.text
    assert exported.status_code == 400 and exported.text == message
