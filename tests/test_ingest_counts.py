"""Ingest is counted on /metrics, and a retried post never adds a metric point twice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from conftest import WandbClient, unique_project
from support.server import LiveServer

HISTORY = "wandb-history.jsonl"


def _counter(server: LiveServer, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def _counters(server: LiveServer) -> tuple[float, float]:
    return (
        _counter(server, "runyard_file_stream_posts_total"),
        _counter(server, "runyard_history_lines_total"),
    )


def _new_run(api: httpx.Client) -> str:
    project = unique_project()
    query = 'mutation($p: String) { upsertBucket(input: {name: "r1", modelName: $p}) { inserted } }'
    response = api.post("/graphql", json={"query": query, "variables": {"p": project}})
    assert response.status_code == 200, response.text
    return f"admin/{project}/r1"


def _post(api: httpx.Client, path: str, files: dict[str, object]) -> httpx.Response:
    return api.post(f"/files/{path}/file_stream", json={"files": files})


def _lines(start: int, stop: int) -> list[str]:
    return [
        json.dumps({"_step": s, "loss": float(s), "acc": {"top1": s / 100}})
        for s in range(start, stop)
    ]


def test_file_stream_posts_and_history_lines_are_counted(server: LiveServer) -> None:
    with server.api() as api:
        path = _new_run(api)
        posts, lines = _counters(server)
        assert (
            _post(api, path, {HISTORY: {"offset": 0, "content": _lines(0, 3)}}).status_code == 200
        )
        assert (
            _post(api, path, {HISTORY: {"offset": 3, "content": _lines(3, 5)}}).status_code == 200
        )
        # A retry is handled (and counted) again; a console-only post has no history lines.
        assert (
            _post(api, path, {HISTORY: {"offset": 3, "content": _lines(3, 5)}}).status_code == 200
        )
        assert _post(api, path, {"output.log": {"offset": 0, "content": ["hi"]}}).status_code == 200
        # A refused post stores nothing and counts nothing.
        bad = {HISTORY: {"offset": 5, "content": ["{not json"]}}
        assert _post(api, path, bad).status_code == 400
    assert _counters(server) == (posts + 4, lines + 7)


def test_official_client_run_is_counted(sqlite_server: LiveServer, tmp_path: Path) -> None:
    posts, lines = _counters(sqlite_server)
    project = unique_project()
    result = WandbClient(tmp_path, sqlite_server).run(
        "train.py", "--project", project, "--steps", "25"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    after_posts, after_lines = _counters(sqlite_server)
    assert after_posts > posts
    # Every logged step is one history line (more only if the client had to retry a post).
    assert after_lines - lines >= 25


def _series(api: httpx.Client, path: str, buckets: int) -> dict[str, list[dict[str, float]]]:
    response = api.get(f"/api/v1/runs/{path}/history/sampled", params={"buckets": buckets})
    assert response.status_code == 200, response.text
    series: dict[str, list[dict[str, float]]] = response.json()["series"]
    return series


def test_retried_posts_add_no_metric_points(server: LiveServer) -> None:
    with server.api() as api:
        path = _new_run(api)
        first = {HISTORY: {"offset": 0, "content": _lines(0, 40)}}
        for _ in range(3):
            assert _post(api, path, first).status_code == 200
        # A retry that overlaps what is stored and carries new lines after it.
        overlap = {HISTORY: {"offset": 20, "content": _lines(20, 45)}}
        assert _post(api, path, overlap).status_code == 200
        assert _post(api, path, overlap).status_code == 200
        # One bucket reads the rollups, a thousand reads the raw points: both see 45 values.
        whole = _series(api, path, 1)
        raw = _series(api, path, 1000)
    for series in (whole, raw):
        assert sum(b["count"] for b in series["loss"]) == 45
        assert sum(b["count"] for b in series["acc.top1"]) == 45
    assert whole["loss"] == [
        {"x_min": 0, "x_max": 44, "count": 45, "min": 0.0, "max": 44.0, "last": 44.0}
    ]
    assert [b["last"] for b in raw["loss"]] == [float(s) for s in range(45)]
