"""The official `wandb launch-agent` serves Runyard's queues unchanged: it registers, pops,
acks or fails items, and the job it launches logs a run that the item links to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from conftest import CLIENT_PYTHON, WandbClient
from support.server import LiveServer

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")

# The job the agent launches: an ordinary training script using the official client.
# The agent passes the run id (WANDB_RUN_ID) and the spec's run_config (WANDB_CONFIG).
JOB = """
import wandb

run = wandb.init()
for step in range(3):
    run.log({"loss": run.config["lr"] * (3 - step)})
run.finish()
"""


def _create_queue(api: httpx.Client) -> str:
    name = f"local-{uuid.uuid4().hex[:6]}"
    body = {
        "name": name,
        "entity": "admin",
        "resource": "local-process",
        "config": {"env": {"GPUS": "{{gpus}}"}},
        "variables": [{"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8}],
    }
    assert api.post("/api/v1/queues", json=body).status_code == 201
    return name


def _items(server: LiveServer, queue: str) -> list[dict[str, Any]]:
    with server.api() as api:
        items: list[dict[str, Any]] = api.get(f"/api/v1/queues/admin/{queue}/items").json()
    return items


def _wait_final(server: LiveServer, queue: str, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    items = _items(server, queue)
    while time.monotonic() < deadline:
        items = _items(server, queue)
        if len(items) == count and all(
            i["state"] in ("finished", "failed", "canceled", "preempted") for i in items
        ):
            break
        time.sleep(0.5)
    return items


def _push_runnable(client: WandbClient, tmp_path: Path, queue: str, project: str) -> None:
    """Enqueue a job the local-process runner can start without downloading code.

    `wandb launch` itself only enqueues jobs (artifacts) or images; a spec whose uri is a
    placeholder and whose entry point is a local command is the runner's other source, so
    the official client's own LaunchApi pushes it.
    """
    job = tmp_path / "job.py"
    job.write_text(JOB)
    script = tmp_path / "push.py"
    script.write_text(
        "import json, sys\n"
        "from wandb.sdk.launch.api import LaunchApi\n"
        "spec = sys.argv[1]\n"
        "res = LaunchApi().push_to_run_queue_by_name("
        "'admin', 'model-registry', sys.argv[2], spec, {'gpus': 2}, 1)\n"
        "print('RESULT', json.dumps(res))\n"
    )
    spec = {
        "uri": "placeholder-local-command",
        "entity": "admin",
        "project": project,
        "resource": "local-process",
        "overrides": {"entry_point": [CLIENT_PYTHON, str(job)], "run_config": {"lr": 0.5}},
    }
    pushed = subprocess.run(
        [CLIENT_PYTHON, str(script), json.dumps(spec), queue],
        env=client.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr


def test_launch_agent_round_trip_runs_job_and_links_run(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    server, client = sqlite_server, sqlite_client
    project = f"p-{uuid.uuid4().hex[:8]}"
    with server.api() as api:
        queue = _create_queue(api)
    # 1. What a user does first: `wandb launch --queue ... -v gpus=4 --priority high`. An
    # image item cannot run on a local-process queue: it is refused at enqueue, naming why.
    pushed = subprocess.run(
        [
            *(WANDB_CLI, "launch", "--queue", queue, "--entity", "admin", "--project", project),
            *("--docker-image", "org/train:1", "-v", "gpus=4", "--priority", "high"),
        ],
        env=client.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pushed.returncode != 0, pushed.stdout + pushed.stderr
    # The CLI shows only this; the server's reason (naming run_spec.entry_point) is in the
    # client's debug log, and in the GraphQL error (tests/test_wandb_queue_lifecycle.py).
    assert "Error adding run to queue" in pushed.stdout + pushed.stderr
    # 2. A runnable local command, pushed by the official client's LaunchApi.
    _push_runnable(client, tmp_path, queue, project)

    workdir = tmp_path / "agent"
    workdir.mkdir()
    agent = subprocess.Popen(
        [WANDB_CLI, "launch-agent", "-q", queue, "--entity", "admin", "--max-jobs", "1"],
        env=client.env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        items = _wait_final(server, queue, 1, timeout=150)
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        try:
            output, _ = agent.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, signal.SIGKILL)
            output, _ = agent.communicate()
    assert len(items) == 1, output[-4000:]  # the image item never reached the queue
    job = items[0]
    assert job["state"] == "finished", output[-4000:]
    assert job["run_id"], "the item links the run the agent launched"
    assert job["template_values"] == {"gpus": 2}
    with server.api() as api:
        run = api.get(f"/api/v1/runs/admin/{project}/{job['run_id']}")
        assert run.status_code == 200, run.text
        assert run.json()["state"] == "finished"
        assert run.json()["config"]["lr"] == 0.5
        # The agent shows up among Runyard's agents, like a `runyard agent`.
        agents = api.get("/api/v1/agents", params={"entity": "admin"}).json()
    assert any(f"admin/{queue}" in a["queues"] for a in agents)
