"""`runyard agent` with the local-process runner, run as the real CLI against a live server.

Jobs are real processes running the official wandb client; the agent is killed with
SIGKILL to show a restarted agent adopts what its predecessor left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import SCRIPTS, WandbClient
from support.local_agents import AgentProcess, enqueue, is_final, make_queue, wait_item
from support.server import LiveServer


@pytest.fixture
def api(sqlite_server: LiveServer) -> Iterator[httpx.Client]:
    with sqlite_server.api() as client:
        yield client


@pytest.fixture
def start_agent(sqlite_server: LiveServer, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    agents: list[AgentProcess] = []

    def start(queue: str, *extra: str) -> AgentProcess:
        # The jobs run the official client: isolated like in other tests.
        env = WandbClient(tmp_path, sqlite_server).env
        args = ("--workdir", str(tmp_path / "jobs"), "--gpus", "0", *extra)
        agent = AgentProcess(sqlite_server, tmp_path, queue, *args, env=env)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()
    # Jobs run in process groups of their own and outlive agents: stop what a test left.
    for job_file in (tmp_path / "jobs").glob("*/job.json"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(json.loads(job_file.read_text())["pid"], signal.SIGKILL)


def test_item_runs_a_wandb_script_and_links_its_run(
    api: httpx.Client, start_agent: Callable[..., AgentProcess]
) -> None:
    queue = make_queue(api, "local-process", "local")
    agent = start_agent(queue)
    project = f"p-{uuid.uuid4().hex[:6]}"
    spec = {
        "entry_point": [sys.executable, str(SCRIPTS / "train.py"), "--project", project],
        "overrides": {"args": ["--steps", "5"], "run_config": {"lr": 0.5}},
        "project": project,
    }
    item_id = enqueue(api, queue, spec)
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "finished", item
    assert list(item["state_times"]) == ["pending", "claimed", "launching", "running", "finished"]
    assert item["attempts"] == 1
    run = api.get(f"/api/v1/runs/admin/{project}/{item['run_id']}").json()
    assert run["state"] == "finished"
    assert run["config"]["lr"] == 0.5  # the launch override reached the client
    agents = api.get("/api/v1/agents").json()
    assert any(a["queues"] == [f"admin/{queue}"] and a["alive"] for a in agents)


def test_failed_process_reports_exit_code_and_log_tail(
    api: httpx.Client, start_agent: Callable[..., AgentProcess]
) -> None:
    queue = make_queue(api, "local-process", "local")
    agent = start_agent(queue)
    code = "import sys; print('loading data'); print('CUDA out of memory'); sys.exit(3)"
    item_id = enqueue(api, queue, {"entry_point": [sys.executable, "-c", code]})
    item = wait_item(api, item_id, is_final, agent)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "run"
    assert item["error"]["message"] == "the job's process exited with code 3"
    assert item["error"]["log"].splitlines()[-2:] == ["loading data", "CUDA out of memory"]


def test_item_without_entry_point_is_refused_at_enqueue_naming_the_field_to_set(
    api: httpx.Client,
) -> None:
    queue = make_queue(api, "local-process", "local")
    path = f"/api/v1/queues/admin/{queue}/items"
    image = api.post(path, json={"run_spec": {"docker": {"docker_image": "org/train:1"}}})
    bare = api.post(path, json={"run_spec": {"project": "p"}})
    for refused in (image, bare):
        assert refused.status_code == 422, refused.text
        assert "run_spec.entry_point is required" in refused.text
        assert f"runyard launch -q {queue} -- python train.py" in refused.text
    assert "org/train:1" in image.text and "local-container or kubernetes queue" in image.text
    assert api.get(path).json() == []  # nothing was enqueued


def test_cancel_stops_the_whole_process_group(
    api: httpx.Client, start_agent: Callable[..., AgentProcess], tmp_path: Path
) -> None:
    queue = make_queue(api, "local-process", "local")
    agent = start_agent(queue, "--max-jobs", "2")
    marker = tmp_path / "grandchild.pid"
    # The job starts a grandchild: cancel must stop it too, not only the direct child.
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(300)"
    )
    item_id = enqueue(api, queue, {"entry_point": [sys.executable, "-c", code]})
    wait_item(api, item_id, lambda i: i["state"] == "running" and marker.exists(), agent)
    grandchild = int(marker.read_text())
    assert api.post(f"/api/v1/items/{item_id}/cancel").status_code == 200
    deadline = time.monotonic() + 30  # the agent hears it at its next heartbeat
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.1)
    assert not _alive(grandchild), agent.output()
    assert api.get(f"/api/v1/items/{item_id}").json()["state"] == "canceled"


def test_restarted_agent_adopts_a_running_job_instead_of_running_it_twice(
    api: httpx.Client, start_agent: Callable[..., AgentProcess], tmp_path: Path
) -> None:
    queue = make_queue(api, "local-process", "local")
    first = start_agent(queue)
    go = tmp_path / "go"
    starts = tmp_path / "starts"
    code = (
        "import os, time; "
        f"open({str(starts)!r}, 'a').write('x'); "
        f"[time.sleep(0.05) for _ in iter(lambda: os.path.exists({str(go)!r}), True)]"
    )
    item_id = enqueue(api, queue, {"entry_point": [sys.executable, "-c", code]})
    running = wait_item(api, item_id, lambda i: i["state"] == "running", first)
    first.stop(signal.SIGKILL)  # the agent dies; its job (own process group) lives on
    second = start_agent(queue)
    adopted = wait_item(
        api,
        item_id,
        lambda i: i["agent_id"] not in (None, running["agent_id"]) and i["state"] == "running",
        second,
    )
    # The dead agent's 5 s lease ran out first (that counts as a second claim), but the
    # process it started was adopted, not started again.
    assert adopted["state"] == "running" and adopted["attempts"] == 2
    go.touch()
    item = wait_item(api, item_id, is_final, second)
    assert item["state"] == "finished"
    assert starts.read_text() == "x"  # started once, across both agents


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_agent_settings_errors_name_the_field(tmp_path: Path) -> None:
    def agent(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "RUNYARD_URL": "http://127.0.0.1:9", "RUNYARD_API_KEY": "k" * 40}
        return subprocess.run(
            [sys.executable, "-m", "runyard.cli", "agent", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    no_queue = agent()
    assert no_queue.returncode == 2 and "queues: Field required" in no_queue.stderr
    no_pool = agent("-q", "a100", "--runner", "kubernetes")
    assert no_pool.returncode == 2 and "runner kubernetes needs a pool" in no_pool.stderr
    bad = tmp_path / "agent.yaml"
    bad.write_text("queues: [a100]\nmax_jobs: 0\n")
    result = agent("--config", str(bad))
    assert result.returncode == 2
    assert "max_jobs: Input should be greater than or equal to 1" in result.stderr
    assert str(bad) in result.stderr


def test_agent_for_an_unknown_queue_stops_with_the_servers_reason(
    sqlite_server: LiveServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "RUNYARD_URL": sqlite_server.url,
        "RUNYARD_API_KEY": sqlite_server.admin_key,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runyard.cli",
            "agent",
            "-q",
            "no-such-queue",
            "--gpus",
            "0",
            "--workdir",
            str(tmp_path / "jobs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "the server refused the agent: queue admin/no-such-queue does not exist" in result.stderr
