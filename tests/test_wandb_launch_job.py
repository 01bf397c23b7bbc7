"""A launch code job end to end with the official client: `wandb job create code` logs the
job artifact, `wandb launch --job` enqueues it on a Runyard local-process queue, and the
official `wandb launch-agent` downloads the job's code artifact and runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from conftest import CLIENT_PYTHON, WandbClient
from support.server import LiveServer

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")
FINAL = ("finished", "failed", "canceled", "preempted")

# Code a researcher turns into a job: it reads a file shipped with it, so the run shows
# that the agent ran the downloaded artifact, not something already on disk.
TRAIN = """
import wandb

run = wandb.init()
with open("message.txt") as handle:
    run.summary["message"] = handle.read().strip()
run.log({"loss": run.config.get("lr", 1.0)})
run.finish()
"""


def _wait_final(server: LiveServer, queue: str, timeout: float) -> list[dict[str, Any]]:
    """The queue's items once all are final (or as they are when `timeout` runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        with server.api() as api:
            items: list[dict[str, Any]] = api.get(f"/api/v1/queues/admin/{queue}/items").json()
        if (items and all(i["state"] in FINAL for i in items)) or time.monotonic() > deadline:
            return items
        time.sleep(0.5)


def _cli(client: WandbClient, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [WANDB_CLI, *args], env=client.env, capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_code_job_created_enqueued_and_run_by_the_official_agent(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    server, client = sqlite_server, sqlite_client
    project = f"p-{uuid.uuid4().hex[:8]}"
    queue = f"jobs-{uuid.uuid4().hex[:6]}"
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "message.txt").write_text("shipped with the job\n")
    (code / "requirements.txt").write_text("wandb\n")

    created = _cli(
        client,
        *("job", "create", "-p", project, "-e", "admin", "-n", "trainer"),
        *("-E", f"{CLIENT_PYTHON} train.py", "code", str(code)),
    )
    assert f"admin/{project}/trainer:v0" in created

    with server.api() as api:
        body = {
            "name": queue,
            "entity": "admin",
            "resource": "local-process",
            "config": {},
            "variables": [{"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8}],
        }
        assert api.post("/api/v1/queues", json=body).status_code == 201
    overrides = tmp_path / "launch.json"
    overrides.write_text(json.dumps({"overrides": {"run_config": {"lr": 0.25}}}))
    _cli(
        client,
        *("launch", "--job", f"admin/{project}/trainer:latest", "--queue", queue),
        *("--entity", "admin", "--project", project, "--config", str(overrides)),
        *("--set-var", "gpus=4", "--priority", "high"),
    )

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
        items = _wait_final(server, queue, timeout=150)
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        try:
            output, _ = agent.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, signal.SIGKILL)
            output, _ = agent.communicate()
    assert len(items) == 1, output[-4000:]
    item = items[0]
    assert item["state"] == "finished", output[-4000:]
    assert item["run_spec"]["job"] == f"admin/{project}/trainer:latest"
    assert item["priority"] == 1 and item["template_values"] == {"gpus": 4}
    with server.api() as api:
        run = api.get(f"/api/v1/runs/admin/{project}/{item['run_id']}")
    assert run.status_code == 200, run.text
    assert run.json()["state"] == "finished"
    assert run.json()["config"]["lr"] == 0.25
    assert run.json()["summary"]["message"] == "shipped with the job"
    assert run.json()["summary"]["loss"] == 0.25
