"""Three `runyard server` replicas on one PostgreSQL database, one Redis and one S3 bucket.

Real processes on their own ports, a round-robin TCP proxy in front (a Kubernetes Service),
the official wandb client and REST agents as users. Files go to a SeaweedFS bucket; each
replica has a data directory of its own (nothing on disk is shared).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from conftest import WandbClient
from support.postgres import throwaway_database
from support.replicas import (
    ADMIN_KEY,
    RoundRobinProxy,
    ServerProcess,
    cluster_environment,
    replica_cluster,
)
from support.seaweedfs import SeaweedS3

pytestmark = [pytest.mark.replicas, pytest.mark.postgres]

RUNS_PER_CLIENT = 5
CLIENTS = 4  # 20 runs
STEPS = 30
ITEMS = 30


class _Live:
    """What WandbClient needs of a server: its URL and admin key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.admin_key = ADMIN_KEY


@pytest.fixture(scope="module")
def bucket(seaweedfs: SeaweedS3) -> str:
    """The replicas' bucket."""
    name = f"runyard-{uuid.uuid4().hex[:12]}"
    seaweedfs.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_admin_dsn: str,
    redis_url: str,
    seaweedfs: SeaweedS3,
    bucket: str,
) -> Iterator[tuple[list[ServerProcess], str]]:
    """Three replicas (started at once on a fresh database) and the database's URL."""
    prefix = f"runyard-test:{uuid.uuid4().hex}:"
    tmp = tmp_path_factory.mktemp("replicas")
    with throwaway_database(postgres_admin_dsn) as url:
        env = cluster_environment(url, redis_url, prefix, 3, tmp / "unused")
        env |= {
            "RUNYARD_S3_BUCKET": bucket,
            "RUNYARD_S3_ENDPOINT_URL": seaweedfs.url,
            "RUNYARD_S3_ACCESS_KEY_ID": seaweedfs.access_key,
            "RUNYARD_S3_SECRET_ACCESS_KEY": seaweedfs.secret_key,
            # A waiting claim looks again only after 30 s: only a wake-up answers it sooner.
            "RUNYARD_CLAIM_RECHECK_S": "30",
        }
        with replica_cluster(env, 3, tmp, own_data_dirs=True) as servers:
            yield servers, url
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


def _queue(api: httpx.Client, **settings: object) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    # kubernetes: items run an image, so they need no entry point.
    body = {"name": name, "entity": "admin", "resource": "kubernetes", "config": {}, **settings}
    response = api.post("/api/v1/queues", json=body)
    assert response.status_code == 201, response.text
    return name


def _claim_in_thread(
    server: ServerProcess, body: dict[str, object]
) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []

    def claim() -> None:
        with server.api() as api:
            answers.append(api.post("/api/v1/agents/claim", json=body, timeout=60))

    thread = threading.Thread(target=claim)
    thread.start()
    return thread, answers


def test_a_claim_waiting_on_one_replica_is_woken_by_an_enqueue_on_another(
    cluster: tuple[list[ServerProcess], str],
) -> None:
    (a, b, _), _ = cluster
    with a.api() as api:
        queue = _queue(api)
    body = {"agent_id": "agent-on-a", "queues": [f"admin/{queue}"], "wait": 20}
    thread, answers = _claim_in_thread(a, body)
    time.sleep(1.0)  # let the claim find the queue empty and start waiting on replica A
    with b.api() as api:
        created = api.post(f"/api/v1/queues/admin/{queue}/items", json={"run_spec": {"x": 1}})
        assert created.status_code == 201, created.text
    thread.join()
    item = answers[0].json()
    # Replica A re-checks only after 30 s and the claim waits 20 s: without the wake-up from
    # replica B the answer would be null.
    assert item is not None, "the claim on replica A was not woken by the enqueue on B"
    assert item["id"] == created.json()["id"] and item["agent_id"] == "agent-on-a"


def test_capacity_heartbeated_to_one_replica_reaches_the_claim_waiting_on_another(
    cluster: tuple[list[ServerProcess], str],
) -> None:
    (a, _, c), _ = cluster
    with a.api() as api:
        queue = _queue(
            api,
            config={"resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}}},
            variables=[{"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8}],
        )
        added = api.post(
            f"/api/v1/queues/admin/{queue}/items", json={"template_values": {"gpus": 8}}
        )
        assert added.status_code == 201, added.text
    body = {
        "agent_id": "gpu-agent",
        "queues": [f"admin/{queue}"],
        "capacity": {"gpus": 2},  # the 8-GPU item does not fit yet
        "wait": 20,
    }
    thread, answers = _claim_in_thread(a, body)
    with c.api() as api:
        while thread.is_alive():  # the agent's jobs ended; its heartbeats reach replica C
            beat = {"agent_id": "gpu-agent", "item_ids": [], "capacity": {"gpus": 8}}
            assert api.post("/api/v1/agents/heartbeat", json=beat).status_code == 200
            thread.join(0.3)
    item = answers[0].json()
    assert item is not None and item["requirements"]["gpus"] == 8


class _Agent(threading.Thread):
    """A REST agent that claims through the proxy, runs items and reports them done."""

    def __init__(self, name: str, proxy_url: str, queue: str, ran: list[tuple[str, str]]) -> None:
        super().__init__(daemon=True)
        self.agent_id = name
        self.queue = queue
        self.ran = ran
        self.stop = threading.Event()
        self.api = httpx.Client(
            base_url=proxy_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
        )

    def _post(self, path: str, body: dict[str, object]) -> httpx.Response:
        while True:  # a cut connection (killed replica): try again, the proxy picks a live one
            try:
                return self.api.post(path, json=body)
            except httpx.TransportError:
                time.sleep(0.2)

    def _report(self, item_id: str, state: str) -> bool:
        answer = self._post(
            f"/api/v1/items/{item_id}/report", {"agent_id": self.agent_id, "state": state}
        )
        if answer.is_success:
            return True
        # A retried report whose first try landed before the replica died: look.
        item = self.api.get(f"/api/v1/items/{item_id}").json()
        return bool(item["agent_id"] == self.agent_id and item["state"] == state)

    def run(self) -> None:
        while not self.stop.is_set():
            body = {"agent_id": self.agent_id, "queues": [f"admin/{self.queue}"], "wait": 2}
            answer = self._post("/api/v1/agents/claim", body)
            item = answer.json() if answer.is_success else None
            if item is None:
                continue
            if not self._report(item["id"], "running"):
                continue  # the lease went elsewhere meanwhile: not ours to run
            self.ran.append((item["id"], self.agent_id))
            time.sleep(0.05)
            self._report(item["id"], "finished")


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def test_runs_and_queue_items_survive_a_replica_killed_mid_way(
    cluster: tuple[list[ServerProcess], str], tmp_path: Path, seaweedfs: SeaweedS3, bucket: str
) -> None:
    servers, url = cluster
    project = f"p-{uuid.uuid4().hex[:8]}"
    with RoundRobinProxy([s.port for s in servers]) as proxy:
        with httpx.Client(
            base_url=proxy.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as api:
            queue = _queue(api, lease_seconds=3, max_attempts=10)
        clients = [WandbClient(tmp_path / f"client-{i}", _Live(proxy.url)) for i in range(CLIENTS)]  # type: ignore[arg-type]
        procs = [
            client.popen(
                "replica_runs.py",
                "--project",
                project,
                "--prefix",
                f"c{i}",
                "--runs",
                str(RUNS_PER_CLIENT),
                "--steps",
                str(STEPS),
            )
            for i, client in enumerate(clients)
        ]
        ran: list[tuple[str, str]] = []
        agents = [_Agent(f"agent-{i}", proxy.url, queue, ran) for i in range(3)]
        for agent in agents:
            agent.start()
        enqueued: list[str] = []
        try:
            with httpx.Client(
                base_url=proxy.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
            ) as api:
                for index in range(ITEMS):
                    if index == ITEMS // 2:
                        # Mid-way: some runs finished, others are logging; items are in flight.
                        while _count(url, "SELECT count(*) FROM runs WHERE state = 'finished'") < 5:
                            time.sleep(0.2)
                        servers[1].kill()
                    while True:  # an enqueue cut by the kill is retried; request_id dedupes
                        try:
                            answer = api.post(
                                f"/api/v1/queues/admin/{queue}/items",
                                json={"request_id": f"req-{index}", "run_spec": {"n": index}},
                            )
                            break
                        except httpx.TransportError:
                            time.sleep(0.2)
                    assert answer.is_success, answer.text
                    enqueued.append(answer.json()["id"])
                    time.sleep(0.1)
            results = [proc.communicate(timeout=300) for proc in procs]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                done = _count(
                    url,
                    "SELECT count(*) FROM runs WHERE state = 'finished'",
                )
                if len({item for item, _ in ran}) >= ITEMS and done >= CLIENTS * RUNS_PER_CLIENT:
                    break
                time.sleep(0.5)
        finally:
            for agent in agents:
                agent.stop.set()
            for agent in agents:
                agent.join(10)
            for client in clients:
                client.kill_leftovers()
        assert proxy.connections[1] > 0, "the killed replica served nothing before it died"
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, f"client failed:\n{out[-2000:]}\n{err[-4000:]}"
    finished = [
        line for out, _ in results for line in out.splitlines() if line.startswith("RESULT")
    ]
    assert len(finished) == CLIENTS * RUNS_PER_CLIENT

    # Every history row exactly once: each run has lines 0..STEPS-1, one row per step.
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        rows = conn.execute(
            "SELECT r.name, count(*), count(DISTINCT h.step), min(h.step), max(h.step) "
            "FROM runs r JOIN history_lines h ON h.run_id = r.id GROUP BY r.name"
        ).fetchall()
        states = dict(conn.execute("SELECT name, state FROM runs").fetchall())
        ids = dict(conn.execute("SELECT name, id FROM runs").fetchall())
    per_run = {name: (lines, steps, low, high) for name, lines, steps, low, high in rows}
    expected = {f"c{c}-{r}" for c in range(CLIENTS) for r in range(RUNS_PER_CLIENT)}
    assert set(per_run) == expected
    assert all(v == (STEPS, STEPS, 0, STEPS - 1) for v in per_run.values()), per_run
    assert all(states[name] == "finished" for name in expected), states
    # Run files went to the bucket through whichever replica signed their URLs.
    stored = seaweedfs.objects(bucket, "runs/")
    for run_id in ids.values():
        assert f"runs/{run_id}/files/wandb-summary.json" in stored, sorted(stored)[:20]

    # Every queue item ran exactly once, and each ended finished.
    assert len(enqueued) == len(set(enqueued)) == ITEMS
    ran_ids = [item for item, _ in ran]
    assert sorted(ran_ids) == sorted(enqueued), "an item ran twice or not at all"
    with servers[0].api() as api:
        items = api.get(f"/api/v1/queues/admin/{queue}/items").json()
    assert {i["id"]: i["state"] for i in items} == {i: "finished" for i in enqueued}


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_worker_processes_of_one_server_wake_each_others_claims(
    tmp_path: Path, postgres_admin_dsn: str
) -> None:
    with throwaway_database(postgres_admin_dsn) as url:
        env = cluster_environment(url, None, "", 1, tmp_path / "data")
        env |= {"RUNYARD_WORKERS": "3", "RUNYARD_CLAIM_RECHECK_S": "30"}  # bus: PostgreSQL
        with replica_cluster(env, 1, tmp_path) as (server,):
            assert server.proc is not None
            assert len(_children(server.proc.pid)) >= 3  # uvicorn's workers
            with server.api() as api:
                queue = _queue(api)
            claims = [
                _claim_in_thread(
                    server, {"agent_id": f"agent-{i}", "queues": [f"admin/{queue}"], "wait": 20}
                )
                for i in range(6)
            ]
            time.sleep(1.0)  # the claims wait, spread over the workers by the kernel
            for index in range(6):
                with server.api() as api:  # a new connection each: any worker may take it
                    added = api.post(
                        f"/api/v1/queues/admin/{queue}/items", json={"run_spec": {"n": index}}
                    )
                    assert added.status_code == 201, added.text
            for thread, _ in claims:
                thread.join()
    # Each worker re-checks only after 30 s and the claims wait 20 s: every claim answered
    # with an item was woken, by its own worker or over the bus from another.
    answered = [answers[0].json() for _, answers in claims]
    assert all(item is not None for item in answered), answered
    assert len({item["id"] for item in answered}) == 6
