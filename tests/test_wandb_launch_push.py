"""The official `wandb launch --queue ...` CLI enqueues into Runyard's queues unchanged."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import httpx

from conftest import CLIENT_PYTHON, WandbClient
from support.server import LiveServer

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")


def _create_queue(api: httpx.Client) -> str:
    name = f"a100-{uuid.uuid4().hex[:6]}"
    body = {
        "name": name,
        "entity": "admin",
        "resource": "kubernetes",
        "config": {"resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}}},
        "variables": [{"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8}],
    }
    assert api.post("/api/v1/queues", json=body).status_code == 201
    return name


def _wandb_launch(client: WandbClient, *args: str) -> subprocess.CompletedProcess[str]:
    command = [WANDB_CLI if Path(WANDB_CLI).exists() else shutil.which("wandb") or "wandb"]
    return subprocess.run(
        [*command, "launch", *args], env=client.env, capture_output=True, text=True, timeout=120
    )


def test_wandb_launch_pushes_with_priority_and_template_values(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    with server.api() as api:
        queue = _create_queue(api)
    pushed = _wandb_launch(
        wandb_client,
        "--queue",
        queue,
        "--entity",
        "admin",
        "--project",
        "p",
        "--docker-image",
        "org/train:1",
        "--set-var",
        "gpus=4",
        "--priority",
        "high",
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    with server.api() as api:
        [item] = api.get(f"/api/v1/queues/admin/{queue}/items").json()
    assert item["priority"] == 1  # high
    assert item["template_values"] == {"gpus": 4}
    assert item["rendered_config"] == {"resources": {"limits": {"nvidia.com/gpu": 4}}}
    assert item["run_spec"]["docker"]["docker_image"] == "org/train:1"
    assert item["run_spec"]["project"] == "p"


def test_wandb_launch_out_of_range_value_enqueues_nothing(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    with server.api() as api:
        queue = _create_queue(api)
    pushed = _wandb_launch(
        wandb_client,
        "--queue",
        queue,
        "--entity",
        "admin",
        "--project",
        "p",
        "--docker-image",
        "org/train:1",
        "--set-var",
        "gpus=16",
    )
    assert pushed.returncode != 0
    assert "gpus" in pushed.stdout + pushed.stderr
    with server.api() as api:
        assert api.get(f"/api/v1/queues/admin/{queue}/items").json() == []
