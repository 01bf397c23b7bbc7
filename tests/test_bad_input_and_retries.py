"""Bad input gets a clear error and stores nothing; retries and reordering lose nothing."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from conftest import WandbClient, unique_project
from support.server import LiveServer

UPSERT = """
mutation UpsertBucket($name: String, $project: String, $entity: String, $config: JSONString) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, config: $config}) {
    bucket { id name project { entity { name } } }
    inserted
  }
}
"""


def _graphql(api: httpx.Client, query: str, **variables: object) -> httpx.Response:
    return api.post("/graphql", json={"query": query, "variables": variables})


def _new_run(server: LiveServer) -> str:
    project = unique_project()
    with server.api() as api:
        response = _graphql(api, UPSERT, name="r1", project=project, entity=None)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["upsertBucket"]["inserted"] is True
    return f"admin/{project}/r1"


def _post(
    server: LiveServer, path: str, files: dict[str, object], **extra: object
) -> httpx.Response:
    with server.api() as api:
        return api.post(f"/files/{path}/file_stream", json={"files": files, **extra})


def _history(server: LiveServer, path: str) -> list[dict[str, object]]:
    with server.api() as api:
        response = api.get(f"/api/v1/runs/{path}/history", params={"limit": 1000})
    response.raise_for_status()
    rows: list[dict[str, object]] = response.json()["rows"]
    return rows


def _lines(start: int, stop: int) -> list[str]:
    return [json.dumps({"_step": i, "loss": i / 10}) for i in range(start, stop)]


def test_retried_posts_create_no_duplicates(server: LiveServer) -> None:
    path = _new_run(server)
    chunk = {"wandb-history.jsonl": {"offset": 0, "content": _lines(0, 5)}}
    for _ in range(3):
        assert _post(server, path, chunk).status_code == 200
    assert [r["_step"] for r in _history(server, path)] == [0, 1, 2, 3, 4]


def test_out_of_order_and_gapped_offsets_lose_nothing(server: LiveServer) -> None:
    path = _new_run(server)
    later = {"wandb-history.jsonl": {"offset": 5, "content": _lines(5, 8)}}
    earlier = {"wandb-history.jsonl": {"offset": 0, "content": _lines(0, 2)}}
    assert _post(server, path, later).status_code == 200
    assert _post(server, path, earlier).status_code == 200
    # Lines 2-4 never arrived: the gap stays a gap, everything sent is kept in order.
    assert [r["_step"] for r in _history(server, path)] == [0, 1, 5, 6, 7]
    with server.api() as api:
        assert api.get(f"/api/v1/runs/{path}").json()["history_line_count"] == 8


def test_console_line_rewritten_at_the_same_offset_is_overwritten(server: LiveServer) -> None:
    path = _new_run(server)
    _post(server, path, {"output.log": {"offset": 0, "content": ["progress 10%"]}})
    _post(server, path, {"output.log": {"offset": 0, "content": ["progress 100%", "done"]}})
    with server.api() as api:
        lines = api.get(f"/api/v1/runs/{path}/console").json()["lines"]
    assert [line["text"] for line in lines] == ["progress 100%", "done"]


def test_value_over_1mb_is_refused_and_nothing_of_the_post_is_stored(server: LiveServer) -> None:
    path = _new_run(server)
    big = json.dumps({"_step": 1, "blob": "x" * 1_100_000})
    response = _post(
        server,
        path,
        {
            "wandb-history.jsonl": {"offset": 0, "content": [_lines(0, 1)[0], big]},
            "output.log": {"offset": 0, "content": ["should not be stored"]},
        },
    )
    assert response.status_code == 413
    assert "wandb-history.jsonl line 1" in response.json()["detail"]
    assert _history(server, path) == []
    with server.api() as api:
        assert api.get(f"/api/v1/runs/{path}/console").json()["lines"] == []


def test_request_over_25mb_gets_a_clear_413(server: LiveServer) -> None:
    path = _new_run(server)
    body = b'{"files": {"output.log": {"offset": 0, "content": ["' + b"x" * 26_000_000 + b'"]}}}'
    with server.api() as api:
        response = api.post(
            f"/files/{path}/file_stream", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert "25 MB limit" in response.json()["error"]


def test_malformed_graphql_is_a_clear_400(server: LiveServer) -> None:
    with server.api() as api:
        response = api.post("/graphql", json={"query": "{ viewer { id "})
        not_json = api.post(
            "/graphql", content=b"{nope", headers={"content-type": "application/json"}
        )
        unknown_field = api.post("/graphql", json={"query": "{ viewer { shoeSize } }"})
    assert response.status_code == 400
    assert "Syntax Error" in response.json()["errors"][0]["message"]
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["errors"][0]["message"]
    assert unknown_field.status_code == 400
    assert "shoeSize" in unknown_field.json()["errors"][0]["message"]


def test_config_value_over_1mb_fails_the_upsert_and_stores_nothing(server: LiveServer) -> None:
    project = unique_project()
    config = json.dumps({"huge": {"value": "y" * 1_100_000}})
    with server.api() as api:
        response = _graphql(api, UPSERT, name="big", project=project, entity=None, config=config)
        assert "config.huge" in response.json()["errors"][0]["message"]
        assert api.get(f"/api/v1/runs/admin/{project}/big").status_code == 404


def test_unknown_run_is_a_404_that_names_it(server: LiveServer) -> None:
    path = _new_run(server)
    entity, project, _ = path.split("/")
    response = _post(server, f"{entity}/{project}/nosuchrun", {})
    assert response.status_code == 404
    assert "nosuchrun" in response.json()["detail"]
    with server.api() as api:
        assert api.get(f"/api/v1/runs/{entity}/{project}/nosuchrun").status_code == 404


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ('{"$foo": 1}', "$foo"),
        ('{"config.lr": {"$gt": {"a": 1}}}', "config.lr"),
        ('{"nosuchfield": 1}', "nosuchfield"),
        ("{not json", "not valid JSON"),
    ],
)
def test_invalid_filter_is_a_400_naming_the_problem(
    server: LiveServer, filters: str, message: str
) -> None:
    path = _new_run(server)
    entity, project, _ = path.split("/")
    with server.api() as api:
        response = api.get(
            "/api/v1/runs", params={"project": f"{entity}/{project}", "filters": filters}
        )
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_missing_or_wrong_key_is_a_401(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/api/v1/viewer").status_code == 401
        assert anonymous.post("/graphql", json={"query": "{ viewer { id } }"}).status_code == 401
    wrong = "runyard-" + "z" * 40
    with server.api(wrong) as api:
        response = api.get("/api/v1/viewer")
    assert response.status_code == 401
    assert "invalid API key" in response.json()["detail"]


def test_client_with_wrong_key_reports_an_authentication_error(
    sqlite_server: LiveServer, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    client = WandbClient(tmp_path, sqlite_server, api_key="runyard-" + "w" * 40)
    try:
        result = client.run("train.py", "--project", unique_project(), "--steps", "1", timeout=90)
    finally:
        client.kill_leftovers()
    assert result.returncode != 0
    output = (result.stderr + result.stdout).lower()
    assert "401" in output or "authenticat" in output or "api key" in output


def test_concurrent_upserts_of_a_new_project_all_succeed(server: LiveServer) -> None:
    # Many clients starting at once in a new project, and retries racing their originals.
    project = unique_project()
    results: list[httpx.Response] = []

    def upsert(i: int) -> None:
        with server.api() as api:
            results.append(_graphql(api, UPSERT, name=f"r{i % 4}", project=project, entity=None))

    threads = [threading.Thread(target=upsert, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bodies = [r.json() for r in results]
    assert all(r.status_code == 200 for r in results)
    assert all("errors" not in b for b in bodies), bodies
    assert sum(b["data"]["upsertBucket"]["inserted"] for b in bodies) == 4
    with server.api() as api:
        listed = api.get("/api/v1/runs", params={"project": f"admin/{project}"}).json()
    assert sorted(r["id"] for r in listed["runs"]) == ["r0", "r1", "r2", "r3"]
