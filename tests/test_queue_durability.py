"""Queues survive a hard crash: the server SIGKILLed mid-queue, and Redis too.

The server runs as `runyard server` in a child process and dies by SIGKILL while items are
pending, claimed, running and finished. For Redis, a private `redis-server` with the
operator's settings (AOF, `appendfsync always`) is SIGKILLed as well and restarted from its
append-only file. Afterwards every item is there in the state it had, the idempotency of
enqueues still holds, and the pending ones are each claimed exactly once by racing agents.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.postgres import throwaway_database
from support.server import free_port

ADMIN_KEY = "runyard-" + "d" * 40
ITEMS = 30


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class AofRedis:
    """A private redis-server persisting every write to its append-only file."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH (Debian package redis-server)")
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        directory.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        self.proc = subprocess.Popen([self.binary, *args], stdout=subprocess.DEVNULL)
        _wait_port(self.port)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class Server:
    """`runyard server` as a child process, killed the hard way."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir, self.extra = data_dir, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "RUNYARD_DATA_DIR": str(self.data_dir),
            "RUNYARD_PORT": str(self.port),
            "RUNYARD_ADMIN_API_KEY": ADMIN_KEY,
            "RUNYARD_LOG_LEVEL": "warning",
            **self.extra,
        }
        self.proc = subprocess.Popen([sys.executable, "-m", "runyard.cli", "server"], env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the server exited while starting"
            time.sleep(0.1)
        raise RuntimeError("the server did not become ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis-aof"]
)
def crashable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Any]]:
    """A server (and for `redis-aof`, its Redis) that the test may SIGKILL and restart."""
    redis = None
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            admin_dsn = request.getfixturevalue("postgres_admin_dsn")
            env["RUNYARD_DATABASE_URL"] = stack.enter_context(throwaway_database(admin_dsn))
        if request.param == "redis-aof":
            redis = AofRedis(tmp_path / "redis")
            redis.start()
            env = {"RUNYARD_QUEUE_REDIS_URL": redis.url, "RUNYARD_QUEUE_REDIS_PREFIX": "rq:"}
        server = Server(tmp_path / "server", env)
        server.start()
        yield server, redis
        server.stop()
        if redis is not None and redis.proc is not None and redis.proc.poll() is None:
            redis.kill()


def _snapshot(api: httpx.Client, queue: str) -> dict[str, tuple[Any, ...]]:
    items = api.get(f"/api/v1/queues/admin/{queue}/items", params={"limit": 1000}).json()
    return {
        i["id"]: (i["state"], i["attempts"], i["priority"], i["run_id"], i["agent_id"])
        for i in items
    }


def test_a_killed_server_loses_and_duplicates_nothing(crashable: tuple[Server, Any]) -> None:
    server, redis = crashable
    with server.api() as api:
        body = {"name": "durable", "entity": "admin", "resource": "kubernetes"}
        assert api.post("/api/v1/queues", json=body).status_code == 201
        ids = []
        for n in range(ITEMS):
            item = {"run_spec": {"n": n}, "priority": n % 4, "request_id": f"req-{n}"}
            response = api.post("/api/v1/queues/admin/durable/items", json=item)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        ask = {"agent_id": "agent-1", "queues": ["admin/durable"]}
        claimed = [api.post("/api/v1/agents/claim", json=ask).json() for _ in range(8)]
        for i, item in enumerate(claimed[:4]):
            report = f"/api/v1/items/{item['id']}/report"
            running = {"agent_id": "agent-1", "state": "running", "run_id": f"run-{i}"}
            assert api.post(report, json=running).status_code == 200
        for item in claimed[:2]:
            done = {"agent_id": "agent-1", "state": "finished"}
            assert api.post(f"/api/v1/items/{item['id']}/report", json=done).status_code == 200
        before = _snapshot(api, "durable")
    assert len(before) == ITEMS

    server.kill()
    if redis is not None:
        redis.kill()
        redis.start()  # replays the append-only file
    server.start()

    with server.api() as api:
        assert _snapshot(api, "durable") == before
        again = api.post(
            "/api/v1/queues/admin/durable/items", json={"run_spec": {"n": 0}, "request_id": "req-0"}
        )
        assert again.status_code == 200 and again.json()["id"] == ids[0]  # not enqueued twice

        # Racing agents drain what was pending: each item exactly once.
        taken: list[str] = []
        lock = threading.Lock()

        def agent(name: str) -> None:
            with server.api() as own:
                while True:
                    ask = {"agent_id": name, "queues": ["admin/durable"]}
                    item = own.post("/api/v1/agents/claim", json=ask).json()
                    if item is None:
                        return
                    with lock:
                        taken.append(item["id"])

        threads = [threading.Thread(target=agent, args=(f"racer-{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        pending = {i for i, (state, *_rest) in before.items() if state == "pending"}
        assert sorted(taken) == sorted(pending)
