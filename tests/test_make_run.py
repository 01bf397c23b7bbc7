"""What `make run` starts: the server with the embedded SQLite default plus a local agent,
used as a new user would from the README: `runyard launch -- CMD`, a W&B code job with
`wandb job create` + `wandb launch --job`, bad input, and quiet logs while idle."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from conftest import CLIENT_PYTHON, WandbClient
from support.server import LiveServer, free_port

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")
FINAL = ("finished", "failed", "canceled", "preempted")


@dataclass
class MakeRun:
    """A running `runyard server --local-agent` and how to reach it."""

    proc: subprocess.Popen[bytes]
    url: str
    admin_key: str
    log: Path
    env: dict[str, str]
    cwd: Path

    def api(self) -> httpx.Client:
        """A REST client with the admin key."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.admin_key}"}, timeout=30
        )

    def runyard(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The `runyard` CLI with the exports `make run` printed."""
        env = {**self.env, "RUNYARD_URL": self.url, "RUNYARD_API_KEY": self.admin_key}
        return subprocess.run(
            [sys.executable, "-m", "runyard.cli", *args],
            env=env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def wait_item(self, item_id: str, timeout: float = 180) -> dict[str, Any]:
        """The item once final (or as it is when `timeout` runs out)."""
        deadline = time.monotonic() + timeout
        with self.api() as api:
            while True:
                item: dict[str, Any] = api.get(f"/api/v1/items/{item_id}").json()
                if item["state"] in FINAL or time.monotonic() > deadline:
                    return item
                time.sleep(0.2)


def start_make_run(tmp_path: Path, extra_env: dict[str, str] | None = None) -> MakeRun:
    """`runyard server --local-agent` as `make run` starts it: the default data dir
    `.runyard`, relative to the cwd; returns once the local agent has registered."""
    port = free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "WANDB_"))}
    # As with the project's venv activated: `python` is the one runyard is installed in.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "runyard.cli", "server", "--local-agent", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            env={**env, **(extra_env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
    key = None
    deadline = time.monotonic() + 60
    while key is None and time.monotonic() < deadline:
        found = re.search(r"export RUNYARD_API_KEY=(\S+)", log.read_text())
        key = found.group(1) if found else None
        time.sleep(0.1)
    assert key, log.read_text()
    assert f"export RUNYARD_URL=http://127.0.0.1:{port}" in log.read_text()
    started = MakeRun(proc, f"http://127.0.0.1:{port}", key, log, env, tmp_path)
    with started.api() as api:
        while time.monotonic() < deadline:
            try:
                agents = api.get("/api/v1/agents").json()
            except httpx.HTTPError:
                agents = []
            # Registered, and done saying so: what comes after is the idle server.
            registered = "runyard.launch.agent.loop registered" in log.read_text()
            if registered and any(a["alive"] and a["queues"] == ["admin/default"] for a in agents):
                return started
            time.sleep(0.2)
    stop(started)
    raise AssertionError(f"no local agent registered\n{log.read_text()}")


def stop(started: MakeRun) -> None:
    """Ctrl-C, as a user stops `make run`."""
    os.killpg(started.proc.pid, signal.SIGTERM)
    started.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """One `make run` server for the tests of this module that do not watch its log."""
    started = start_make_run(tmp_path_factory.mktemp("make-run"))
    yield started
    stop(started)


def test_runyard_launch_with_a_command_finishes_on_the_default_queue(make_run: MakeRun) -> None:
    launched = make_run.runyard("launch", "-q", "default", "--", "python", "-c", "print(1)")
    assert launched.returncode == 0, launched.stdout + launched.stderr
    item_id = re.search(r"enqueued item (\w+)", launched.stdout)
    assert item_id, launched.stdout
    item = make_run.wait_item(item_id.group(1))
    assert item["state"] == "finished", (item, make_run.log.read_text()[-4000:])
    assert item["run_spec"]["entry_point"] == ["python", "-c", "print(1)"]
    output = make_run.cwd / ".runyard" / "agent" / item["id"] / "output.log"
    assert output.read_text().strip() == "1"


# Code a researcher turns into a job: it reads a file shipped with it, so the run shows that
# the agent ran the downloaded artifact, not something already on disk.
TRAIN = """
import wandb

run = wandb.init()
with open("message.txt") as handle:
    run.summary["message"] = handle.read().strip()
run.log({"loss": run.config.get("lr", 1.0)})
run.finish()
"""


def _wandb(client: WandbClient, *args: str) -> str:
    done = subprocess.run(
        [WANDB_CLI, *args], env=client.env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_wandb_code_job_runs_on_the_builtin_agent(make_run: MakeRun, tmp_path: Path) -> None:
    """`wandb job create code DIR -E "python train.py"`, then `wandb launch --job` on the
    `make run` queue: the runyard agent downloads the code, installs its requirements into a
    cached venv, runs the entry point, and the item ends finished with its run linked."""
    client = WandbClient(tmp_path, cast(LiveServer, make_run))
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "message.txt").write_text("shipped with the job\n")
    (code / "requirements.txt").write_text("wandb\n")
    created = _wandb(
        client,
        *("job", "create", "-p", "jobs", "-e", "admin", "-n", "trainer"),
        *("-E", "python train.py", "code", str(code)),
    )
    assert "admin/jobs/trainer:v0" in created
    overrides = tmp_path / "launch.json"
    overrides.write_text(json.dumps({"overrides": {"run_config": {"lr": 0.25}}}))
    with make_run.api() as api:
        before = {i["id"] for i in api.get("/api/v1/queues/admin/default/items").json()}
    _wandb(
        client,
        *("launch", "--job", "admin/jobs/trainer:latest", "--queue", "default"),
        *("--entity", "admin", "--project", "jobs", "--config", str(overrides)),
    )
    with make_run.api() as api:
        (item_id,) = {i["id"] for i in api.get("/api/v1/queues/admin/default/items").json()} - (
            before
        )
    item = make_run.wait_item(item_id)
    assert item["state"] == "finished", (item, make_run.log.read_text()[-4000:])
    assert item["run_spec"]["job"] == "admin/jobs/trainer:latest"
    with make_run.api() as api:
        run = api.get(f"/api/v1/runs/admin/jobs/{item['run_id']}")
        assert run.status_code == 200, run.text
        assert run.json()["state"] == "finished"
        assert run.json()["config"]["lr"] == 0.25
        assert run.json()["summary"]["message"] == "shipped with the job"
        # The run used its job: its types are recorded and the job is no longer partial.
        job = api.get("/api/v1/artifacts/admin/jobs/trainer:latest").json()
        assert job["version"] == "v0"  # updated in place: the run made no new job version
    assert "_partial" not in job["metadata"], job["metadata"]
    assert "input_types" in job["metadata"]
    agent_dir = make_run.cwd / ".runyard" / "agent"
    assert "-m venv" in (agent_dir / item_id / "output.log").read_text()
    # The next job with these requirements reuses the environment instead of building one.
    with make_run.api() as api:
        before = {i["id"] for i in api.get("/api/v1/queues/admin/default/items").json()}
    _wandb(
        client,
        *("launch", "--job", "admin/jobs/trainer:latest", "--queue", "default"),
        *("--entity", "admin", "--project", "jobs"),
    )
    with make_run.api() as api:
        (again,) = {i["id"] for i in api.get("/api/v1/queues/admin/default/items").json()} - (
            before
        )
    assert make_run.wait_item(again)["state"] == "finished"
    assert "-m venv" not in (agent_dir / again / "output.log").read_text()
    assert len(list((agent_dir / "venvs").glob("*/bin/python"))) == 1


def test_bad_input_is_refused_and_changes_nothing(make_run: MakeRun) -> None:
    with make_run.api() as api:
        before = api.get("/api/v1/queues/admin/default/items").json()
    empty = make_run.runyard("launch", "-q", "default", "--")
    assert empty.returncode == 2 and "nothing after `--`" in empty.stderr
    bare = make_run.runyard("launch", "-q", "default", "--project", "p")
    assert bare.returncode == 1 and "run_spec.entry_point is required" in bare.stderr
    assert "runyard launch -q default -- python train.py" in bare.stderr
    unknown = make_run.runyard("launch", "-q", "nope", "--", "true")
    assert unknown.returncode == 1
    assert "queue admin/nope does not exist (queues of admin: default)" in unknown.stderr
    nothing = make_run.runyard("queue", "cancel", "0000dead")
    assert nothing.returncode == 1 and "queue item 0000dead does not exist" in nothing.stderr
    with make_run.api() as api:
        assert api.get("/api/v1/queues/admin/default/items").json() == before
        assert api.get("/api/v1/queues/admin/nope").status_code == 404


HEARTBEAT_S, CLAIM_WAIT_S, CYCLES = 0.05, 0.1, 60


def test_an_idle_server_with_its_local_agent_logs_nothing_at_info(tmp_path: Path) -> None:
    """An idle `make run` logs nothing at info level: heartbeats and claims are debug lines.

    The local agent runs with a 0.05 s heartbeat and a 0.1 s claim long-poll, and the log is
    watched until the server has answered at least 60 heartbeats and 60 claims after start:
    at the default intervals (10 s heartbeats, 30 s claims) that is 10 minutes of heartbeats
    and 30 minutes of claims. The server's own sweepers (crashed runs, expired leases) run
    every 0.1 s meanwhile instead of every 15 s and 2 s.
    """
    started = start_make_run(
        tmp_path,
        {
            "RUNYARD_LOCAL_AGENT_HEARTBEAT_S": str(HEARTBEAT_S),
            "RUNYARD_LOCAL_AGENT_CLAIM_WAIT_S": str(CLAIM_WAIT_S),
            "RUNYARD_CRASH_CHECK_INTERVAL_S": "0.1",
            "RUNYARD_LEASE_CHECK_INTERVAL_S": "0.1",
        },
    )
    try:
        with started.api() as api:
            startup = len(started.log.read_text())

            def served(path: str) -> float:
                """How many requests the server answered on `path` (its own metrics)."""
                text = api.get("/metrics").text
                return sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("runyard_http_request_duration_seconds_count")
                    and f'route="{path}"' in line
                )

            first = (served("/api/v1/agents/heartbeat"), served("/api/v1/agents/claim"))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                now = (served("/api/v1/agents/heartbeat"), served("/api/v1/agents/claim"))
                if now[0] - first[0] >= CYCLES and now[1] - first[1] >= CYCLES:
                    break
                time.sleep(0.5)
            else:
                raise AssertionError(f"too few cycles: {first} -> {now}")
        idle = started.log.read_text()[startup:]
    finally:
        stop(started)
    # The test's own /metrics reads are requests like any other; the server's idle work is not.
    lines = [line for line in idle.splitlines() if line.strip() and "GET /metrics" not in line]
    assert not [line for line in lines if re.search(r"\bINFO\b", line)], idle[-4000:]
    assert not [line for line in lines if re.search(r"\b(WARNING|ERROR)\b", line)], idle[-4000:]


def test_ctrl_c_stops_make_run_without_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C while the local agent waits in a claim long poll (it always does when idle):
    the server cancels that poll at shutdown, which must not print an ASGI traceback."""
    started = start_make_run(tmp_path)
    time.sleep(1)  # the agent's claim is now waiting on the server
    os.killpg(started.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    started.proc.wait(timeout=60)
    log = started.log.read_text()
    assert "Traceback" not in log, log
    assert "CancelledError" not in log, log
