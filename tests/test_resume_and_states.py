"""Resume (allow/must/never), crash detection, and stopping a run from the API."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import WandbClient, unique_project
from support.server import LiveServer


def _run_json(server: LiveServer, path: str) -> dict[str, object]:
    with server.api() as api:
        response = api.get(f"/api/v1/runs/{path}")
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


def _wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_resume_allow_continues_from_the_last_step(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project, run_id = unique_project(), uuid.uuid4().hex[:8]
    first = wandb_client.run("train.py", "--project", project, "--run-id", run_id, "--steps", "20")
    assert first.returncode == 0, first.stderr
    second = wandb_client.run(
        "train.py", "--project", project, "--run-id", run_id, "--resume", "allow", "--steps", "5"
    )
    assert second.returncode == 0, second.stderr
    init = second.results[0]
    assert init["resumed"] is True
    assert init["start_step"] == 20  # the server told the client where the run stopped
    assert init["config"]["extra"] == 1  # restored from the first attempt
    assert init["summary_best"] == 0.5

    path = f"admin/{project}/{run_id}"
    run = _run_json(server, path)
    assert run["state"] == "finished"
    assert run["history_line_count"] == 25
    with server.api() as api:
        rows = api.get(f"/api/v1/runs/{path}/history", params={"limit": 100}).json()["rows"]
        console = api.get(f"/api/v1/runs/{path}/console").json()["lines"]
    assert [r["_step"] for r in rows] == list(range(25))
    texts = [c["text"] for c in console]
    # Both attempts' console output is kept: nothing of the first is overwritten.
    for step in range(25):
        assert sum(t.endswith(f"epoch {step} loss={1.0 / (step + 1):.6f}") for t in texts) == 1


def test_resume_must_requires_an_existing_run(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project, run_id = unique_project(), uuid.uuid4().hex[:8]
    result = wandb_client.run(
        "train.py", "--project", project, "--run-id", run_id, "--resume", "must", "--steps", "1"
    )
    assert result.returncode != 0
    assert "must" in (result.stderr + result.stdout)
    with server.api() as api:
        assert api.get(f"/api/v1/runs/admin/{project}/{run_id}").status_code == 404


def test_resume_never_refuses_an_existing_run(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project, run_id = unique_project(), uuid.uuid4().hex[:8]
    first = wandb_client.run("train.py", "--project", project, "--run-id", run_id, "--steps", "3")
    assert first.returncode == 0, first.stderr
    second = wandb_client.run(
        "train.py", "--project", project, "--run-id", run_id, "--resume", "never", "--steps", "3"
    )
    assert second.returncode != 0
    assert "never" in (second.stderr + second.stdout)
    run = _run_json(server, f"admin/{project}/{run_id}")
    assert run["history_line_count"] == 3  # the refused attempt logged nothing


def test_resume_must_continues_an_existing_run(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project, run_id = unique_project(), uuid.uuid4().hex[:8]
    assert (
        wandb_client.run(
            "train.py", "--project", project, "--run-id", run_id, "--steps", "4"
        ).returncode
        == 0
    )
    second = wandb_client.run(
        "train.py", "--project", project, "--run-id", run_id, "--resume", "must", "--steps", "2"
    )
    assert second.returncode == 0, second.stderr
    assert _run_json(server, f"admin/{project}/{run_id}")["history_line_count"] == 6


@pytest.fixture(scope="module")
def fast_crash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server that declares a run crashed after 3 s of silence."""
    server = LiveServer(
        tmp_path_factory.mktemp("crash"),
        run_heartbeat_timeout_s=3.0,
        crash_check_interval_s=0.5,
    ).start()
    yield server
    server.stop()


def test_killed_training_process_becomes_crashed(
    tmp_path: Path, fast_crash_server: LiveServer
) -> None:
    client = WandbClient(tmp_path, fast_crash_server)
    project = unique_project()
    proc = client.popen("train.py", "--project", project, "--steps", "3", "--hang")
    try:
        assert proc.stdout is not None
        run_id = None
        for line in proc.stdout:
            if '"phase": "init"' in line:
                run_id = line.split('"id": "')[1].split('"')[0]
            if '"phase": "hang"' in line:
                break
        assert run_id, "the script never reported its run id"
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the training process
        client.kill_leftovers()  # and its wandb-core, as a node failure would
        path = f"admin/{project}/{run_id}"
        _wait_for(
            lambda: _run_json(fast_crash_server, path)["state"] == "crashed",
            timeout=30,
            what="the run to become crashed",
        )
        crashed = _run_json(fast_crash_server, path)
        # It ends at its last heartbeat: the 3 s of silence before the sweep are not runtime.
        assert crashed["finished_at"] == crashed["heartbeat_at"]
    finally:
        proc.kill()
        proc.wait()
        client.kill_leftovers()


def test_stop_from_the_api_stops_the_client(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    # The client logs until it is stopped; 600 s is only a backstop (the test ends sooner),
    # so a slow machine cannot let it run to its end before the stop reaches it.
    proc = sqlite_client.popen(
        "train.py", "--project", project, "--steps", "1", "--wait-stop", "600"
    )
    try:
        assert proc.stdout is not None
        first = ""
        while not first.startswith("RESULT "):
            first = proc.stdout.readline()
            assert first, "the client exited before it printed its run id"
        run_id = json.loads(first[len("RESULT ") :])["id"]
        path = f"admin/{project}/{run_id}"
        with sqlite_server.api() as api:
            _wait_for(
                lambda: api.get(f"/api/v1/runs/{path}").status_code == 200,
                timeout=120,
                what="the run to exist",
            )
            stopped = api.post(f"/api/v1/runs/{path}/stop")
            assert stopped.status_code == 200, stopped.text
            assert stopped.json()["stop_requested"] is True
        proc.wait(timeout=300)  # the client polls for the stop, then ends the run
        assert "finished" not in proc.stdout.read()  # it did not run to its end
        _wait_for(
            lambda: _run_json(sqlite_server, path)["state"] != "running",
            timeout=120,
            what="the run to leave the running state",
        )
    finally:
        proc.kill()
        proc.wait()
