"""`runyard agent` on this machine (local-process or local-container runner) as the real CLI,
and the queue steps its tests share: a queue of a resource, an item on it, waiting for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from support.server import LiveServer

FINAL_STATES = {"finished", "failed", "canceled", "preempted"}


class AgentProcess:
    """`runyard agent -q QUEUE ARGS...` in a subprocess (its own session), logging to a file."""

    def __init__(
        self,
        server: LiveServer,
        log_dir: Path,
        queue: str,
        *args: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log_dir / f"agent-{uuid.uuid4().hex[:6]}.log"
        full_env = {
            **(env if env is not None else os.environ),
            "RUNYARD_URL": server.url,
            "RUNYARD_API_KEY": server.admin_key,
        }
        cmd = [sys.executable, "-m", "runyard.cli", "agent", "-q", queue, *args]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        """What the agent printed so far."""
        return self.log.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Signal the agent (SIGKILL: its whole process group) and wait until it is gone."""
        if self.proc.poll() is None:
            if signum == signal.SIGKILL:
                os.killpg(self.proc.pid, signum)
            else:
                self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # Leave nothing behind, and say where the agent was stuck.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                tail = self.output()[-3000:]
                raise AssertionError(f"agent did not stop in 60 s; its log ends:\n{tail}") from None


def make_queue(api: httpx.Client, resource: str, prefix: str, **extra: Any) -> str:
    """A new queue of `admin` for `resource` with 5 s leases; its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "entity": "admin", "resource": resource, "lease_seconds": 5}
    response = api.post("/api/v1/queues", json={**body, **extra})
    assert response.status_code == 201, response.text
    return name


def enqueue(api: httpx.Client, queue: str, run_spec: dict[str, Any], **extra: Any) -> str:
    """A new item on `admin/queue`; its id."""
    body = {"run_spec": run_spec, **extra}
    response = api.post(f"/api/v1/queues/admin/{queue}/items", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_item(
    api: httpx.Client,
    item_id: str,
    done: Callable[[dict[str, Any]], bool],
    agent: AgentProcess,
    timeout: float = 120,
) -> dict[str, Any]:
    """Poll the item until `done(item)`; fail with the item and the agent's log."""
    deadline = time.monotonic() + timeout
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:
        item = api.get(f"/api/v1/items/{item_id}").json()
        if done(item):
            return item
        time.sleep(0.1)
    raise AssertionError(f"item stuck: {item}\n--- agent log ---\n{agent.output()}")


def is_final(item: dict[str, Any]) -> bool:
    """Whether the item reached a final state."""
    return item["state"] in FINAL_STATES
