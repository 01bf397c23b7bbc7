"""A `wandb agent` that dies: its run is marked crashed once the agent misses its
heartbeats, and the crashed grid point is offered again (once) to the next agent."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sweeps import _agent, _create, _finish, _sweep_api, _wait

from conftest import WandbClient
from support.server import LiveServer


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that declares a sweep agent crashed after 6 s of silence."""
    server = LiveServer(
        tmp_path_factory.mktemp("sweep-agents"),
        sweep_agent_timeout_s=6.0,
        sweep_check_interval_s=1.0,
    ).start()
    yield server
    server.stop()


def test_a_dead_agents_run_crashes_and_its_point_is_offered_again_on_sqlite(
    quick_server: LiveServer, tmp_path: Path
) -> None:
    client = WandbClient(tmp_path, quick_server)
    try:
        project = f"p-{uuid.uuid4().hex[:8]}"
        config = {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"lr": {"values": [0.1, 0.2]}},
        }
        sweep = _create(client, tmp_path, project, config)
        doomed = _agent(client, tmp_path, sweep, SWEEP_STEPS="200", SWEEP_SLEEP="0.5")

        def running() -> list[dict[str, Any]]:
            return [t for t in _sweep_api(quick_server, sweep)["trials"] if t["state"] == "running"]

        victim = _wait(running, 90, "the first run")[0]
        # The machine dies: the agent, its run and the run's wandb-core, without a word.
        os.killpg(doomed.pid, signal.SIGKILL)
        client.kill_leftovers()
        doomed.communicate()

        def crashed() -> list[dict[str, Any]]:
            return [t for t in _sweep_api(quick_server, sweep)["trials"] if t["state"] == "crashed"]

        assert _wait(crashed, 60, "the run to be marked crashed")[0]["run"] == victim["run"]
        detail = _sweep_api(quick_server, sweep)
        assert [a["state"] for a in detail["agents"]] == ["CRASHED"]

        survivor = _agent(client, tmp_path, sweep)
        out = _finish(survivor, timeout=180)
        assert survivor.returncode == 0, out
        detail = _sweep_api(quick_server, sweep)
        assert detail["state"] == "FINISHED"
        trials = detail["trials"]
        # The crashed point came back once, in a new run; the other point ran once.
        assert sorted((t["params"]["lr"], t["state"]) for t in trials) == sorted(
            [(victim["params"]["lr"], "crashed"), (0.1, "finished"), (0.2, "finished")]
        )
        with quick_server.api() as api:
            run = api.get(f"/api/v1/runs/admin/{project}/{victim['run']}").json()
        assert run["state"] == "crashed"
    finally:
        client.kill_leftovers()
