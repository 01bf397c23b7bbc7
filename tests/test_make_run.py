"""What `make run` starts: the server with the embedded SQLite default plus a local agent."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support.server import free_port


def test_server_with_local_agent_runs_items_of_the_default_queue(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNYARD_", "WANDB_"))}
    # Exactly what `make run` uses: the default data dir `.runyard`, relative to the cwd.
    cmd = [sys.executable, "-m", "runyard.cli", "server", "--local-agent", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        key = None
        deadline = time.monotonic() + 60
        while key is None and time.monotonic() < deadline:
            found = re.search(r"export WANDB_API_KEY=(\S+)", log.read_text())
            key = found.group(1) if found else None
            time.sleep(0.1)
        assert key, log.read_text()
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
        )
        while time.monotonic() < deadline:
            try:
                agents = api.get("/api/v1/agents").json()
            except httpx.HTTPError:
                agents = []
            if any(a["alive"] and a["queues"] == ["admin/default"] for a in agents):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"no local agent registered\n{log.read_text()}")
        spec = {"entry_point": [sys.executable, "-c", "print('hello from the local agent')"]}
        item = api.post("/api/v1/queues/admin/default/items", json={"run_spec": spec}).json()
        while time.monotonic() < deadline:
            item = api.get(f"/api/v1/items/{item['id']}").json()
            if item["state"] in ("finished", "failed"):
                break
            time.sleep(0.1)
        assert item["state"] == "finished", (item, log.read_text())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
