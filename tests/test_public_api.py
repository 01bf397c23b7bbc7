"""The official client's public API (`wandb.Api`) lists, filters and reads runs from Runyard."""

from __future__ import annotations

import json

import pytest

from conftest import WandbClient, unique_project


def test_wandb_api_lists_filters_and_reads_history(wandb_client: WandbClient) -> None:
    project = unique_project()
    ids = []
    for steps in (4, 9, 6):
        result = wandb_client.run("train.py", "--project", project, "--steps", str(steps))
        assert result.returncode == 0, result.stderr
        ids.append(result.results[0]["id"])

    # Three runs, two per page: the client follows the cursor to the second page.
    every = wandb_client.run("read_api.py", "--path", f"admin/{project}")
    assert every.returncode == 0, every.stderr
    listing = every.results[0]
    assert listing["count"] == 3
    assert [r["id"] for r in listing["runs"]] == list(reversed(ids))  # newest first
    assert all(r["state"] == "finished" for r in listing["runs"])
    assert listing["runs"][0]["tags"] == ["baseline", "a100"]
    assert listing["runs"][0]["group"] == "sweep-1"
    assert listing["runs"][0]["job_type"] == "train"

    # The 9-step run has the lowest final loss; filter on it and read its history back.
    filtered = wandb_client.run(
        "read_api.py",
        "--path",
        f"admin/{project}",
        "--filters",
        json.dumps({"summary_metrics.loss": {"$lt": 0.15}, "state": "finished"}),
    )
    assert filtered.returncode == 0, filtered.stderr
    listing, detail = filtered.results
    assert [r["id"] for r in listing["runs"]] == [ids[1]]
    assert detail["config"]["optimizer"] == {"name": "adam", "beta": 0.9}
    assert detail["summary"]["loss"] == pytest.approx(1 / 9)
    assert detail["scan_steps"] == list(range(9))
    assert detail["scan_loss"] == [pytest.approx(1 / (s + 1)) for s in range(9)]
    assert detail["sampled_steps"] == list(range(9))
    assert {"loss", "acc", "nested.x"} <= set(detail["history_keys"])


def test_wandb_api_reports_an_invalid_filter(wandb_client: WandbClient) -> None:
    project = unique_project()
    result = wandb_client.run("train.py", "--project", project, "--steps", "1")
    assert result.returncode == 0, result.stderr
    bad = wandb_client.run(
        "read_api.py", "--path", f"admin/{project}", "--filters", '{"config.lr": {"$near": 1}}'
    )
    assert bad.returncode != 0
    assert "$near" in bad.stderr
