"""Sweeps with the official client: `wandb sweep`, parallel `wandb agent`s, hyperband stops,
pause/resume/cancel, the public API's sweep reads, and bad input naming the field."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import CLIENT_PYTHON, SCRIPTS, WandbClient
from support.server import LiveServer

# Long official-client round trips: `make test-e2e`, run by .ci/run after `make test`.
pytestmark = pytest.mark.e2e

WANDB_CLI = str(Path(CLIENT_PYTHON).parent / "wandb")
TRAIN = str(SCRIPTS / "sweep_train.py")
COMMAND = ["${env}", CLIENT_PYTHON, "${program}", "${args}"]


def _cli(
    client: WandbClient, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WANDB_CLI, *args], env=client.env, capture_output=True, text=True, timeout=120, cwd=cwd
    )


def _create(client: WandbClient, tmp: Path, project: str, config: dict[str, Any]) -> str:
    """`wandb sweep CONFIG.yaml`; the new sweep's `entity/project/id`."""
    path = tmp / f"sweep-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({"program": TRAIN, "command": COMMAND, **config}))
    done = _cli(client, "sweep", "-p", project, "-e", "admin", str(path))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    found = re.search(r"sweep with ID: (\w+)", output)
    assert found, output
    return f"admin/{project}/{found.group(1)}"


def _agent(client: WandbClient, tmp: Path, sweep: str, **env: str) -> subprocess.Popen[str]:
    work = tmp / f"agent-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    return subprocess.Popen(
        [WANDB_CLI, "agent", sweep],
        env={**client.env, **env, "WANDB_DIR": str(work)},
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"wandb agent did not exit within {timeout}s:\n{out}") from None
    return out


def _read(client: WandbClient, sweep: str) -> dict[str, Any]:
    result = client.run("sweep_read.py", sweep)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.results[0]


def _sweep_api(server: LiveServer, sweep: str) -> dict[str, Any]:
    with server.api() as api:
        answer = api.get(f"/api/v1/sweeps/{sweep}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _heartbeats(server: LiveServer, sweep: str, count: int) -> None:
    """Wait until the sweep's (one) agent has heartbeated `count` more times."""
    seen: set[str] = set()

    def more() -> bool:
        seen.add(_sweep_api(server, sweep)["agents"][0]["heartbeat_at"])
        return len(seen) > count

    _wait(more, 180, f"{count} more heartbeats of the agent")


GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01, 0.001]}, "batch": {"values": [16, 32]}},
}


def test_three_agents_run_a_3x2_grid_once_per_point(
    server: LiveServer, wandb_client: WandbClient, tmp_path: Path
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    sweep = _create(wandb_client, tmp_path, project, GRID)
    agents = [_agent(wandb_client, tmp_path, sweep) for _ in range(3)]
    outputs = [_finish(agent) for agent in agents]
    for agent, out in zip(agents, outputs, strict=True):
        assert agent.returncode == 0, out

    read = _read(wandb_client, sweep)
    runs = read["runs"]
    assert len(runs) == 6
    points = sorted((r["config"]["lr"], r["config"]["batch"]) for r in runs)
    assert points == sorted((lr, b) for lr in (0.1, 0.01, 0.001) for b in (16, 32))
    assert all(r["state"] == "finished" and r["sweep"] == read["id"] for r in runs)
    assert read["state"] == "FINISHED"
    best = min(runs, key=lambda r: r["loss"])
    assert read["best"] == best["name"] and best["config"] == {"lr": 0.001, "batch": 16}
    assert read["project_sweeps"] == [read["id"]]

    # An agent for a finished sweep is refused, naming the sweep and why.
    late = _finish(_agent(wandb_client, tmp_path, sweep), timeout=120)
    assert "is finished, so it takes no more agents" in late


def test_hyperband_stops_losing_runs_through_their_agent_and_they_end_finished_on_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        # Grid order: the good run goes first, so the later (worse) ones meet its values.
        "parameters": {"lr": {"values": [0.001, 5.0, 9.0]}},
        "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
    }
    sweep = _create(sqlite_client, tmp_path, project, config)
    agent = _agent(sqlite_client, tmp_path, sweep, SWEEP_STEPS="30", SWEEP_SLEEP="0.4")
    out = _finish(agent)
    assert agent.returncode == 0, out
    detail = _sweep_api(sqlite_server, sweep)
    # The official agent got the stop commands and acted on them.
    assert out.count("Agent received command: stop") >= 2, (detail, out)

    trials = {t["params"]["lr"]: t for t in detail["trials"]}
    assert sorted(trials) == [0.001, 5.0, 9.0]
    assert not trials[0.001]["stopped_early"] and trials[0.001]["state"] == "finished"
    for lr in (5.0, 9.0):
        assert trials[lr]["stopped_early"], trials[lr]
        assert "hyperband stopped the run" in trials[lr]["stop_reason"]
        assert trials[lr]["state"] == "finished"
    read = _read(sqlite_client, sweep)
    runs = {r["config"]["lr"]: r for r in read["runs"]}
    with sqlite_server.api() as api:
        listed = api.get("/api/v1/runs", params={"project": f"admin/{project}"}).json()["runs"]
    stopped = {r["id"]: r["stop_requested"] for r in listed}
    for lr in (5.0, 9.0):
        assert runs[lr]["state"] == "finished" and stopped[runs[lr]["name"]], runs[lr]
        assert len(runs[lr]["history"]) < 30  # cut short
    assert not stopped[runs[0.001]["name"]] and len(runs[0.001]["history"]) == 30
    assert read["best"] == runs[0.001]["name"]


def test_pause_resume_and_cancel_as_the_seeds_describe_on_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    config = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"min": 0.001, "max": 0.1}},
    }
    sweep = _create(sqlite_client, tmp_path, project, config)
    # Each run logs its steps, then holds until the test lets it finish: none ends (and
    # none is followed by a next one) while a slow `wandb sweep --pause` is still starting.
    hold = tmp_path / "let-runs-finish"
    agent = _agent(sqlite_client, tmp_path, sweep, SWEEP_STEPS="4", SWEEP_HOLD=str(hold))
    trials = lambda: _sweep_api(sqlite_server, sweep)["trials"]  # noqa: E731
    first = _wait(lambda: [t for t in trials() if t["state"] == "running"], 120, "a run")[0]

    # Pause: the running run finishes, and no new run starts while paused.
    paused = _cli(sqlite_client, "sweep", "--pause", sweep)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert _sweep_api(sqlite_server, sweep)["state"] == "PAUSED"
    hold.touch()
    _wait(
        lambda: [t for t in trials() if t["run"] == first["run"] and t["state"] == "finished"],
        120,
        "the run to finish",
    )
    # The idle agent heartbeats twice more (it asks for work each time) and gets none.
    _heartbeats(sqlite_server, sweep, 2)
    assert [t["run"] for t in trials()] == [first["run"]]
    assert agent.poll() is None  # the agent waits, it does not exit

    # Resume: the agent gets a new run, which holds until canceled.
    hold.unlink()
    resumed = _cli(sqlite_client, "sweep", "--resume", sweep)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    second = _wait(
        lambda: [t for t in trials() if t["run"] != first["run"] and t["state"] == "running"],
        120,
        "a new run after resume",
    )[0]

    # Cancel: the running run is killed, the agent exits, no new run starts.
    canceled = _cli(sqlite_client, "sweep", "--cancel", sweep)
    assert canceled.returncode == 0, canceled.stdout + canceled.stderr
    out = _finish(agent, timeout=90)
    assert agent.returncode == 0, out
    detail = _sweep_api(sqlite_server, sweep)
    assert detail["state"] == "CANCELED"
    assert [t["run"] for t in detail["trials"]] == [first["run"], second["run"]]
    killed = next(t for t in detail["trials"] if t["run"] == second["run"])
    assert killed["state"] != "finished", killed
    read = _read(sqlite_client, sweep)
    assert read["state"] == "CANCELED"
    cut_short = next(r for r in read["runs"] if r["name"] == second["run"])
    assert cut_short["state"] != "finished"

    # A canceled sweep can be neither resumed nor joined.
    again = _cli(sqlite_client, "sweep", "--resume", sweep)
    assert "canceled" in (again.stdout + again.stderr).lower()
    late = _finish(_agent(sqlite_client, tmp_path, sweep), timeout=120)
    assert "is canceled, so it takes no more agents" in late


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"method": "annealing", "parameters": {"lr": {"values": [1]}}}, "method"),
        (
            {"method": "random", "parameters": {"lr": {"min": 0.5, "max": 0.1}}},
            "parameters.lr.min",
        ),
        ({"method": "bayes", "parameters": {"lr": {"min": 0.1, "max": 0.5}}}, "metric"),
    ],
)
def test_an_invalid_sweep_config_is_refused_naming_the_field_on_sqlite(
    sqlite_client: WandbClient, tmp_path: Path, config: dict[str, Any], words: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    done = _cli(sqlite_client, "sweep", "-p", "bad-configs", "-e", "admin", str(path))
    output = done.stdout + done.stderr
    assert f"{words}:" in output, output
    assert "sweep with ID" not in output


def test_stop_lets_the_running_run_finish_then_the_agent_exits_on_sqlite(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    project = f"p-{uuid.uuid4().hex[:8]}"
    config = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"min": 0.001, "max": 0.1}},
    }
    sweep = _create(sqlite_client, tmp_path, project, config)
    agent = _agent(sqlite_client, tmp_path, sweep, SWEEP_STEPS="16", SWEEP_SLEEP="0.5")

    def running() -> list[dict[str, Any]]:
        trials = _sweep_api(sqlite_server, sweep)["trials"]
        return [t for t in trials if t["state"] == "running"]

    first = _wait(running, 60, "a run")[0]
    stopped = _cli(sqlite_client, "sweep", "--stop", sweep)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    out = _finish(agent, timeout=120)
    assert agent.returncode == 0, out
    detail = _sweep_api(sqlite_server, sweep)
    assert detail["state"] == "FINISHED"
    # The run that was going when the sweep stopped ran to its end; no other run started.
    assert [(t["run"], t["state"]) for t in detail["trials"]] == [(first["run"], "finished")]
    assert "Agent received command: exit" in out
