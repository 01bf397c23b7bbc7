"""State that must read the same from every server process: `/metrics` totals over worker
processes, the GPU telemetry board, and automation deliveries woken over the cluster bus.

Real `runyard server` processes on one PostgreSQL database (the bus: LISTEN/NOTIFY); every
request opens a new connection, so the kernel hands it to any worker of the server.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from test_automations import add_webhook, settled

from conftest import WandbClient, unique_project
from support.postgres import throwaway_database
from support.receiver import Receiver
from support.replicas import ADMIN_KEY, ServerProcess, cluster_environment, replica_cluster

pytestmark = [pytest.mark.replicas, pytest.mark.postgres]

WORKERS = 3
READS = 12  # reads on fresh connections: with 3 workers, each very likely lands on all


@pytest.fixture(scope="module")
def workers(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str
) -> Iterator[ServerProcess]:
    """One server with three worker processes."""
    tmp = tmp_path_factory.mktemp("workers")
    with throwaway_database(postgres_admin_dsn) as url:
        env = cluster_environment(url, None, "", 1, tmp / "data")
        env["RUNYARD_WORKERS"] = str(WORKERS)
        with replica_cluster(env, 1, tmp) as (server,):
            yield server


def _eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    """`check()` once it stops raising AssertionError (bus messages arrive a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _scrape(server: ServerProcess) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as fresh:
        answer = fresh.get("/metrics")
    assert answer.status_code == 200, answer.text
    return answer.text


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus exposition (None when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.rsplit(" ", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_the_requests_of_every_worker_process(workers: ServerProcess) -> None:
    probe = f"/api/v1/queues/admin/missing-{uuid.uuid4().hex[:8]}"
    for _ in range(30):
        with workers.api() as api:  # a new connection each: any worker may take it
            assert api.get(probe).status_code == 404
    route = "/api/v1/queues/{entity}/{name}"
    for _ in range(READS):
        text = _scrape(workers)
        got = _sample(
            text,
            "runyard_http_request_duration_seconds_count",
            method="GET",
            route=route,
            status="404",
        )
        # Whichever worker answers the scrape reports all 30 requests, not its own share.
        seen = [line for line in text.splitlines() if "_count" in line and "queues" in line]
        assert got == 30, f"one scrape saw {got} of the 30 requests: {seen}"


def _running_item(api: httpx.Client) -> tuple[str, str]:
    """A queue item claimed and running on a registered agent: (item id, agent id)."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    new_queue = {"name": queue, "entity": "admin", "resource": "kubernetes"}
    api.post("/api/v1/queues", json=new_queue).raise_for_status()
    body = {"run_spec": {}, "template_values": {}}
    item = api.post(f"/api/v1/queues/admin/{queue}/items", json=body).json()
    registration = {"name": "gpu-box", "hostname": "node-7", "queues": [f"admin/{queue}"]}
    agent = api.post("/api/v1/agents", json=registration).json()["id"]
    claim = {"agent_id": agent, "queues": [f"admin/{queue}"]}
    assert api.post("/api/v1/agents/claim", json=claim).json()["id"] == item["id"]
    report = {"agent_id": agent, "state": "running"}
    api.post(f"/api/v1/items/{item['id']}/report", json=report).raise_for_status()
    return item["id"], agent


def test_gpu_telemetry_sent_to_one_worker_reads_the_same_on_every_worker(
    workers: ServerProcess,
) -> None:
    with workers.api() as api:
        item, agent = _running_item(api)
        samples = [
            {"at": datetime.now(UTC).isoformat(), "gpu": g, "utilization_percent": 87.5}
            for g in (0, 1)
        ]
        beat = {"agent_id": agent, "item_ids": [item], "telemetry": {item: samples}}
        assert api.post("/api/v1/agents/heartbeat", json=beat).status_code == 200

    def every_worker_shows_it() -> None:
        for _ in range(READS):
            with workers.api() as api:
                got = api.get(f"/api/v1/items/{item}").json()["gpu_telemetry"]
            assert [(s["gpu"], s["utilization_percent"]) for s in got] == [(0, 87.5), (1, 87.5)]
        for _ in range(READS):
            text = _scrape(workers)
            for gpu in ("0", "1"):
                value = _sample(text, "runyard_item_gpu_utilization_percent", item=item, gpu=gpu)
                assert value == 87.5, f"GPU {gpu} of {item}: {value}"

    _eventually(every_worker_shows_it)

    with workers.api() as api:
        done = {"agent_id": agent, "state": "finished"}
        api.post(f"/api/v1/items/{item}/report", json=done).raise_for_status()

    def no_worker_shows_it() -> None:
        for _ in range(READS):
            with workers.api() as api:
                assert api.get(f"/api/v1/items/{item}").json()["gpu_telemetry"] == []
        for _ in range(READS):
            text = _scrape(workers)
            assert _sample(text, "runyard_item_gpu_utilization_percent", item=item) is None

    _eventually(no_worker_shows_it)


def test_a_delivery_written_on_one_replica_wakes_the_dispatcher_of_another(
    tmp_path: Path, postgres_admin_dsn: str
) -> None:
    """Replica A writes events but does not deliver; replica B delivers and polls for other
    replicas' events only once a minute, so a webhook within 40 s came from a bus wake-up."""
    receiver = Receiver()
    with throwaway_database(postgres_admin_dsn) as url:
        env = cluster_environment(url, None, "", 2, tmp_path / "data")
        writer = ServerProcess("writer", {**env, "RUNYARD_EVENTS_DISPATCH": "false"}, tmp_path)
        sender = ServerProcess("sender", {**env, "RUNYARD_EVENTS_POLL_INTERVAL_S": "60"}, tmp_path)
        live = SimpleNamespace(url=writer.url, admin_key=ADMIN_KEY)
        client = WandbClient(tmp_path / "client", live)  # type: ignore[arg-type]
        try:
            for server in (writer, sender):
                server.start()
            for server in (writer, sender):
                server.wait_ready()
            project = unique_project()
            with writer.api() as api:
                add_webhook(api, "bus-hook", receiver.url)
            result = client.run(
                "automations.py", "--project", project, "--mode", "alias", "--hook", "bus-hook"
            )
            assert result.returncode == 0, result.stdout + result.stderr
            [got] = receiver.wait_for(1, timeout=40)
            assert got.body["artifact_version_string"] == f"admin/{project}/model:production"
            with sender.api() as api:
                [delivery] = settled(api, project, 1)
            assert delivery["state"] == "succeeded"
        finally:
            client.kill_leftovers()
            receiver.close()
            for server in (writer, sender):
                server.stop()
