"""Launch sweeps: `wandb launch-sweep` and `runyard sweep create --queue` turn a sweep's
trials into items of a launch queue, the server keeping at most `num_workers`/`--workers`
in flight; a `runyard agent` runs them as W&B code jobs that join the sweep. Bad input (a
queue's template variable the sweep does not set) is refused naming the variable."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import CLIENT_PYTHON, WandbClient
from support.server import LiveServer

# Long official-client round trips: `make test-e2e`, run by .ci/run after `make test`.
pytestmark = pytest.mark.e2e

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")

TRAIN = """
import time
import wandb

run = wandb.init()
lr, batch = float(run.config["lr"]), int(run.config["batch"])
for step in range(3):
    run.log({"loss": lr + batch / 1000 + 1 / (step + 1)})
    time.sleep(0.5)
run.finish()
"""
GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01, 0.001]}, "batch": {"values": [16, 32]}},
}


def _cli(client: WandbClient, *args: str) -> subprocess.CompletedProcess[str]:
    # In the client's home: `launch-sweep` downloads the job to ./artifacts to check it.
    return subprocess.run(
        [WANDB_CLI, *args],
        env=client.env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=client.env["HOME"],
    )


@pytest.fixture
def agent(sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path) -> Iterator[Any]:
    """Start `runyard agent -q QUEUE --max-jobs 4` (local processes) on demand."""
    started: list[subprocess.Popen[bytes]] = []

    def start(queue: str) -> subprocess.Popen[bytes]:
        env = {
            **sqlite_client.env,
            "RUNYARD_URL": sqlite_server.url,
            "RUNYARD_API_KEY": sqlite_server.admin_key,
        }
        cmd = [sys.executable, "-m", "runyard.cli", "agent", "-q", queue, "--max-jobs", "4"]
        cmd += ["--workdir", str(tmp_path / "jobs"), "--gpus", "0"]
        log = (tmp_path / "agent.log").open("wb")
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    for job_file in (tmp_path / "jobs").glob("*/job.json"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(json.loads(job_file.read_text())["pid"], signal.SIGKILL)


def _job(client: WandbClient, tmp: Path, project: str) -> str:
    """A W&B code job made with `wandb job create code`; its name."""
    code = tmp / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "requirements.txt").write_text("wandb\n")
    done = _cli(
        client,
        *("job", "create", "-p", project, "-e", "admin", "-n", "trainer"),
        *("-E", f"{CLIENT_PYTHON} train.py", "code", str(code)),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return f"admin/{project}/trainer:latest"


def _queue(server: LiveServer, variables: list[dict[str, Any]] | None = None) -> str:
    name = f"sweepq-{uuid.uuid4().hex[:6]}"
    body = {
        "name": name,
        "entity": "admin",
        "resource": "local-process",
        "config": {},
        "variables": variables or [],
    }
    with server.api() as api:
        answer = api.post("/api/v1/queues", json=body)
    assert answer.status_code == 201, answer.text
    return name


def _wait_sweep(server: LiveServer, path: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with server.api() as api:
        while True:
            detail: dict[str, Any] = api.get(f"/api/v1/sweeps/{path}").json()
            if detail["state"] in ("FINISHED", "CANCELED") or time.monotonic() > deadline:
                return detail
            time.sleep(1)


def _most_in_flight(items: list[dict[str, Any]]) -> int:
    """The most items claimed-but-not-ended at any moment (from their state times)."""
    events = []
    for item in items:
        times = item["state_times"]
        start = times.get("claimed")
        end = next((times[s] for s in ("finished", "failed", "canceled") if s in times), None)
        if start and end:
            events += [(datetime.fromisoformat(start), 1), (datetime.fromisoformat(end), -1)]
    most = current = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        current += delta
        most = max(most, current)
    return most


def _check_finished_grid(server: LiveServer, path: str, queue: str) -> None:
    detail = _wait_sweep(server, path)
    assert detail["state"] == "FINISHED", detail
    trials = detail["trials"]
    assert len(trials) == 6 and all(t["state"] == "finished" for t in trials), trials
    points = sorted((t["params"]["lr"], t["params"]["batch"]) for t in trials)
    assert points == sorted((lr, b) for lr in (0.1, 0.01, 0.001) for b in (16, 32))
    entity, project, sweep = path.split("/")
    with server.api() as api:
        items = api.get(f"/api/v1/queues/admin/{queue}/items").json()
        runs = api.get(
            "/api/v1/runs",
            params={"project": f"{entity}/{project}", "filters": json.dumps({"sweep": sweep})},
        ).json()["runs"]
    assert len(items) == 6 and all(i["state"] == "finished" for i in items)
    # Each item ran its trial's run, with its parameters, in the sweep.
    assert sorted(i["run_id"] for i in items) == sorted(t["run"] for t in trials)
    assert sorted(r["id"] for r in runs) == sorted(t["run"] for t in trials)
    for run in runs:
        trial = next(t for t in trials if t["run"] == run["id"])
        assert run["config"]["lr"] == trial["params"]["lr"] and run["state"] == "finished"
    assert _most_in_flight(items) <= 2


def test_wandb_launch_sweep_runs_six_trials_at_most_two_at_once_on_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path, agent: Any
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    job = _job(sqlite_client, tmp_path, project)
    queue = _queue(sqlite_server)
    agent(queue)
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({**GRID, "job": job, "scheduler": {"num_workers": 2}}))
    done = _cli(
        sqlite_client, "launch-sweep", str(config), "-q", queue, "-p", project, "-e", "admin"
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    found = re.search(r"sweep with ID: (\w+)", output)
    assert found, output
    _check_finished_grid(sqlite_server, f"admin/{project}/{found.group(1)}", queue)


def test_runyard_sweep_create_on_a_queue_with_template_values_on_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path, agent: Any
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    job = _job(sqlite_client, tmp_path, project)
    gpus = {"name": "gpus", "type": "integer", "minimum": 0, "maximum": 8}
    queue = _queue(sqlite_server, [gpus])
    agent(queue)
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({**GRID, "job": job}))
    env = {
        **os.environ,
        "RUNYARD_URL": sqlite_server.url,
        "RUNYARD_API_KEY": sqlite_server.admin_key,
    }
    cmd = [sys.executable, "-m", "runyard.cli", "sweep", "create", str(config)]
    cmd += ["--queue", queue, "-v", "gpus=0", "--workers", "2", "--project", project]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"admin/[\w-]+/(\w{8})", done.stdout)
    assert found, done.stdout
    path = f"admin/{project}/{found.group(1)}"
    _check_finished_grid(sqlite_server, path, queue)
    with sqlite_server.api() as api:
        items = api.get(f"/api/v1/queues/admin/{queue}/items").json()
    assert all(i["template_values"] == {"gpus": 0} for i in items)


def test_launch_sweep_on_a_queue_whose_variables_it_does_not_set_is_refused_on_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    job = _job(sqlite_client, tmp_path, project)
    gpus = {"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8}
    queue = _queue(sqlite_server, [gpus])
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({**GRID, "job": job}))
    done = _cli(
        sqlite_client, "launch-sweep", str(config), "-q", queue, "-p", project, "-e", "admin"
    )
    output = done.stdout + done.stderr
    assert "template_variables" in output and "gpus" in output, output
    assert "sweep with ID" not in output
    # With the variable set (scheduler.template_variables), the same sweep is accepted.
    config.write_text(
        yaml.safe_dump({**GRID, "job": job, "scheduler": {"template_variables": {"gpus": 2}}})
    )
    done = _cli(
        sqlite_client, "launch-sweep", str(config), "-q", queue, "-p", project, "-e", "admin"
    )
    assert "sweep with ID" in done.stdout + done.stderr, done.stdout + done.stderr


def test_cancelling_a_launch_sweep_cancels_its_pending_items_on_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    queue = _queue(sqlite_server)  # no agent serves it: the items wait
    body = {
        "config": yaml.safe_dump({**GRID, "job": f"admin/{project}/trainer:latest"}),
        "project": project,
        "queue": queue,
        "workers": 3,
    }
    with sqlite_server.api() as api:
        created = api.post("/api/v1/sweeps", json=body)
        assert created.status_code == 201, created.text
        path = f"admin/{project}/{created.json()['id']}"
        deadline = time.monotonic() + 60
        while len(api.get(f"/api/v1/queues/admin/{queue}/items").json()) < 3:
            assert time.monotonic() < deadline, "the scheduler enqueued no trials"
            time.sleep(0.5)
        time.sleep(3)  # another scheduling pass: still at most 3 in flight
        items = api.get(f"/api/v1/queues/admin/{queue}/items").json()
        assert len(items) == 3 and all(i["state"] == "pending" for i in items)
        # Each item carries its trial's parameters, run id and sweep.
        for item in items:
            spec = item["run_spec"]
            assert spec["sweep_id"] == path.rsplit("/", 1)[1] and spec["run_id"]
            assert set(spec["overrides"]["run_config"]) == {"lr", "batch"}

        canceled = api.post(f"/api/v1/sweeps/{path}/state", json={"state": "CANCELED"})
        assert canceled.status_code == 200, canceled.text
        deadline = time.monotonic() + 60
        while any(
            i["state"] != "canceled" for i in api.get(f"/api/v1/queues/admin/{queue}/items").json()
        ):
            assert time.monotonic() < deadline, "the sweep's items were not canceled"
            time.sleep(0.5)
        detail = api.get(f"/api/v1/sweeps/{path}").json()
    assert detail["state"] == "CANCELED"
    assert [t["state"] for t in detail["trials"]] == ["canceled"] * 3


def test_a_requeued_trial_item_resumes_the_same_run() -> None:
    from runyard.launch.agent.run_env import run_id_for, wandb_values
    from runyard.launch.models import ItemState, Priority, QueueItem, Requirements
    from runyard.server.sweeps.launch import trial_run_spec

    launch = {"run_spec": {"job": "admin/p/trainer:latest", "project": "p", "entity": "admin"}}
    spec = trial_run_spec(launch, "sw33p1d0", "r1a2b3c4", {"lr": 0.1})
    item = QueueItem(
        id="item-1",
        queue="q",
        entity="admin",
        priority=Priority.MEDIUM,
        run_spec=spec,
        template_values={},
        rendered_config={},
        requirements=Requirements(),
        state=ItemState.PENDING,
        state_times={},
        created_at=datetime(2026, 1, 1),
        preemptions=1,
    )
    # Whatever attempt the agent makes, the item logs to the trial's run, in the sweep.
    assert run_id_for(item) == "r1a2b3c4"
    env = wandb_values(item, "http://x", run_id_for(item))
    assert env["WANDB_SWEEP_ID"] == "sw33p1d0" and env["WANDB_RESUME"] == "allow"
    assert json.loads(env["WANDB_CONFIG"]) == {"lr": 0.1}
