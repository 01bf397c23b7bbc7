"""The official wandb client logs a run; everything reads back exactly through /api/v1."""

from __future__ import annotations

import pytest

from conftest import WandbClient, unique_project
from support.server import LiveServer


def _history(server: LiveServer, path: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    after = -1
    with server.api() as api:
        while True:
            page = api.get(f"/api/v1/runs/{path}/history", params={"after": after, "limit": 7})
            page.raise_for_status()
            body = page.json()
            rows.extend(body["rows"])
            if body["next_after"] is None:
                return rows
            after = body["next_after"]


def test_init_log_config_summary_console_finish(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project = unique_project()
    result = wandb_client.run("train.py", "--project", project, "--steps", "25")
    assert result.returncode == 0, result.stderr
    init = result.results[0]
    assert init["entity"] == "admin"
    path = f"admin/{project}/{init['id']}"

    with server.api() as api:
        run = api.get(f"/api/v1/runs/{path}").json()
    assert run["state"] == "finished"
    assert run["exit_code"] == 0
    assert run["config"] == {
        "lr": 0.01,
        "layers": [1, 2],
        "optimizer": {"name": "adam", "beta": 0.9},
        "extra": 1,
    }
    assert run["tags"] == ["baseline", "a100"]
    assert run["group"] == "sweep-1"
    assert run["job_type"] == "train"
    assert run["notes"] == "first try"
    assert run["summary"]["best"] == 0.5
    assert run["summary"]["loss"] == pytest.approx(1 / 25)
    assert run["summary"]["_step"] == 24
    assert run["history_line_count"] == 25

    rows = _history(server, path)
    assert [r["_step"] for r in rows] == list(range(25))
    assert [r["loss"] for r in rows] == [1.0 / (s + 1) for s in range(25)]
    assert [r["acc"] for r in rows] == [s / 100 for s in range(25)]
    assert [r["nested"] for r in rows] == [{"x": s} for s in range(25)]
    assert all(r["flag"] is True for r in rows)

    with server.api() as api:
        console = api.get(f"/api/v1/runs/{path}/console").json()["lines"]
        files = api.get(f"/api/v1/runs/{path}/files").json()
    texts = [line["text"] for line in console]
    for step in range(25):
        assert any(t.endswith(f"epoch {step} loss={1.0 / (step + 1):.6f}") for t in texts), step
    assert any(t.endswith("stderr line") for t in texts)
    names = {f["name"] for f in files if f["uploaded"]}
    assert {"config.yaml", "wandb-summary.json", "wandb-metadata.json"} <= names


def test_runs_list_filter_and_order(server: LiveServer, wandb_client: WandbClient) -> None:
    project = unique_project()
    ids = []
    for steps in (3, 6):
        result = wandb_client.run("train.py", "--project", project, "--steps", str(steps))
        assert result.returncode == 0, result.stderr
        ids.append(result.results[0]["id"])
    with server.api() as api:
        listed = api.get(
            "/api/v1/runs",
            params={
                "project": f"admin/{project}",
                "filters": '{"$and":[{"config.lr":{"$lte":0.01}},{"tags":{"$in":["a100"]}}]}',
                "order": "+summary_metrics.loss",
            },
        ).json()
    assert listed["total"] == 2
    # More steps end with a lower loss, so ascending loss puts the 6-step run first.
    assert [r["id"] for r in listed["runs"]] == [ids[1], ids[0]]
