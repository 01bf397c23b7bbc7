"""The native read API: sampled history for charts, paging, console, and the documents served."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from conftest import unique_project
from support.server import LiveServer

UPSERT = """
mutation UpsertBucket($name: String, $project: String) {
  upsertBucket(input: {name: $name, modelName: $project}) { inserted }
}
"""


def _new_run(api: httpx.Client) -> str:
    project = unique_project()
    response = api.post(
        "/graphql", json={"query": UPSERT, "variables": {"name": "r", "project": project}}
    )
    assert response.status_code == 200, response.text
    return f"admin/{project}/r"


def _stream(api: httpx.Client, path: str, body: dict[str, object]) -> httpx.Response:
    return api.post(f"/files/{path}/file_stream", json=body)


def test_sampled_history_summarises_each_bucket(server: LiveServer) -> None:
    # A zig-zag loss: bucket min, max and last differ, so each is checked for real.
    lines = [json.dumps({"_step": s, "loss": (s % 10) * 1.5, "lr": 0.1}) for s in range(100)]
    with server.api() as api:
        path = _new_run(api)
        # Overlapping posts, as a client retrying after a timeout sends: nothing counts twice.
        for offset, chunk in ((0, lines[:60]), (40, lines[40:]), (0, lines[:60])):
            history = {"wandb-history.jsonl": {"offset": offset, "content": chunk}}
            assert _stream(api, path, {"files": history}).is_success
        body = api.get(
            f"/api/v1/runs/{path}/history/sampled", params={"keys": ["loss"], "buckets": 10}
        ).json()
    loss = body["series"]["loss"]
    assert len(loss) == 10
    for i, bucket in enumerate(loss):
        assert bucket["x_min"] == 10 * i and bucket["x_max"] == 10 * i + 9
        assert bucket["count"] == 10
        assert bucket["min"] == 0.0 and bucket["max"] == 13.5 and bucket["last"] == 13.5
    assert set(body["series"]) == {"loss"}


def test_sampled_history_of_a_long_run_reads_rollups(server: LiveServer) -> None:
    steps = 5000
    lines = [json.dumps({"_step": s, "loss": float(s % 700)}) for s in range(steps)]
    with server.api() as api:
        path = _new_run(api)
        for start in range(0, steps, 1000):
            history = {
                "wandb-history.jsonl": {"offset": start, "content": lines[start : start + 1200]}
            }
            assert _stream(api, path, {"files": history}).is_success
        body = api.get(f"/api/v1/runs/{path}/history/sampled", params={"buckets": 10}).json()
    loss = body["series"]["loss"]
    assert 5 <= len(loss) <= 10
    assert sum(b["count"] for b in loss) == steps
    assert loss[0]["x_min"] == 0 and loss[-1]["x_max"] == steps - 1
    for bucket in loss:
        xs = range(int(bucket["x_min"]), int(bucket["x_max"]) + 1)
        assert bucket["count"] == len(xs)
        assert bucket["min"] == min(s % 700 for s in xs)
        assert bucket["max"] == max(s % 700 for s in xs)
        assert bucket["last"] == xs[-1] % 700


def test_sampled_history_of_a_short_run_keeps_every_point(server: LiveServer) -> None:
    lines = [json.dumps({"_step": s * 3, "acc": s / 10}) for s in range(5)]
    with server.api() as api:
        path = _new_run(api)
        _stream(api, path, {"files": {"wandb-history.jsonl": {"offset": 0, "content": lines}}})
        body = api.get(f"/api/v1/runs/{path}/history/sampled", params={"buckets": 1000}).json()
    acc = body["series"]["acc"]
    assert [b["x_min"] for b in acc] == [0, 3, 6, 9, 12]
    assert [b["last"] for b in acc] == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_gzipped_file_stream_is_accepted(server: LiveServer) -> None:
    body = {"files": {"output.log": {"offset": 0, "content": ["hello", "world"]}}}
    with server.api() as api:
        path = _new_run(api)
        response = api.post(
            f"/files/{path}/file_stream",
            content=gzip.compress(json.dumps(body).encode()),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["stopped"] is False
        lines = api.get(f"/api/v1/runs/{path}/console").json()["lines"]
    assert [line["text"] for line in lines] == ["hello", "world"]


def test_preempting_marks_the_run_preempted(server: LiveServer) -> None:
    with server.api() as api:
        path = _new_run(api)
        assert _stream(api, path, {"files": {}, "preempting": True}).is_success
        assert api.get(f"/api/v1/runs/{path}").json()["state"] == "preempted"
        # The process then dies of the preemption: it stays preempted, not failed.
        assert _stream(api, path, {"files": {}, "complete": True, "exitcode": 143}).is_success
        run = api.get(f"/api/v1/runs/{path}").json()
    assert run["state"] == "preempted"
    assert run["exit_code"] == 143


@pytest.mark.parametrize("document", ["/openapi.json", "/healthz", "/readyz", "/metrics"])
def test_service_documents_are_served(server: LiveServer, document: str) -> None:
    response = httpx.get(server.url + document)
    assert response.status_code == 200
    if document == "/openapi.json":
        paths = response.json()["paths"]
        assert "/api/v1/runs" in paths
        assert "/api/v1/runs/{entity}/{project}/{run}/history/sampled" in paths
    if document == "/metrics":
        assert "runyard_http_request_duration_seconds_count" in response.text


def test_sampled_history_of_a_window_is_finer_and_stays_inside_it(server: LiveServer) -> None:
    steps = 5000
    lines = [json.dumps({"_step": s, "loss": float(s % 700)}) for s in range(steps)]
    with server.api() as api:
        path = _new_run(api)
        for start in range(0, steps, 1000):
            history = {
                "wandb-history.jsonl": {"offset": start, "content": lines[start : start + 1000]}
            }
            assert _stream(api, path, {"files": history}).is_success
        url = f"/api/v1/runs/{path}/history/sampled"
        whole = api.get(url, params={"buckets": 50}).json()["series"]["loss"]
        window = api.get(url, params={"buckets": 50, "step_min": 1000, "step_max": 1499}).json()
    loss = window["series"]["loss"]
    assert sum(b["count"] for b in loss) == 500
    assert loss[0]["x_min"] == 1000 and loss[-1]["x_max"] == 1499
    assert len(loss) > 2 * sum(1 for b in whole if 1000 <= b["x_max"] <= 1499)
    for bucket in loss:
        xs = range(int(bucket["x_min"]), int(bucket["x_max"]) + 1)
        assert bucket["min"] == min(s % 700 for s in xs)
        assert bucket["max"] == max(s % 700 for s in xs)
