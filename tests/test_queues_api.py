"""Launch queues over REST: create, enqueue with validation, long-poll claims, leases, cancel."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from support.server import LiveServer

TEMPLATE = {
    "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}},
    "nodeSelector": {"nvidia.com/gpu.product": "{{gpu_type}}"},
}
VARIABLES = [
    {"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8, "default": 1},
    {"name": "gpu_type", "type": "string", "enum": ["a100", "h100"], "default": "a100"},
]


@pytest.fixture(scope="module")
def redis_backed(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveServer]:
    """A server keeping its queues in Redis under a prefix of its own."""
    prefix = f"runyard-test:{uuid.uuid4().hex}:"
    live = LiveServer(
        tmp_path_factory.mktemp("redis-server"),
        None,
        queue_redis_url=redis_url,
        queue_redis_prefix=prefix,
    ).start()
    yield live
    live.stop()
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "redis"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    """A live server whose queues are in SQLite, PostgreSQL or Redis."""
    name = {"sqlite": "sqlite_server", "postgres": "postgres_server_live", "redis": "redis_backed"}
    live: LiveServer = request.getfixturevalue(name[request.param])
    return live


def _create(api: httpx.Client, **settings: object) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    # kubernetes: items run an image, so they need no entry point.
    body = {
        "name": name,
        "entity": "admin",
        "resource": "kubernetes",
        "config": TEMPLATE,
        "variables": VARIABLES,
        **settings,
    }
    response = api.post("/api/v1/queues", json=body)
    assert response.status_code == 201, response.text
    return name


def _items(api: httpx.Client, queue: str) -> list[dict[str, object]]:
    response = api.get(f"/api/v1/queues/admin/{queue}/items")
    response.raise_for_status()
    items: list[dict[str, object]] = response.json()
    return items


def test_enqueue_validates_renders_and_orders(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        for label, priority, gpus in [("a", "low", "2"), ("b", "critical", 4), ("c", "high", 1)]:
            response = api.post(
                f"/api/v1/queues/admin/{queue}/items",
                json={
                    "run_spec": {"label": label, "project": "p"},
                    "priority": priority,
                    "template_values": {"gpus": gpus},
                },
            )
            assert response.status_code == 201, response.text
        items = _items(api, queue)
        described = api.get(f"/api/v1/queues/admin/{queue}").json()
    assert [i["run_spec"]["label"] for i in items] == ["b", "c", "a"]  # type: ignore[index]
    first = items[0]
    assert first["template_values"] == {"gpus": 4, "gpu_type": "a100"}
    assert first["rendered_config"] == {
        "resources": {"limits": {"nvidia.com/gpu": 4}},
        "nodeSelector": {"nvidia.com/gpu.product": "a100"},
    }
    assert first["requirements"] == {"gpus": 4}
    assert described["stats"]["pending_by_priority"] == {
        "critical": 1,
        "high": 1,
        "medium": 0,
        "low": 1,
    }


def test_bad_enqueues_are_clear_and_store_nothing(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        path = f"/api/v1/queues/admin/{queue}/items"
        bad_values = api.post(path, json={"template_values": {"gpus": 16, "gpu_type": "v100"}})
        assert bad_values.status_code == 422
        problems = bad_values.json()["detail"]["problems"]
        assert "template variable 'gpus' must be <= 8, got 16" in problems
        assert "template variable 'gpu_type' must be one of 'a100', 'h100', got 'v100'" in problems
        unknown_var = api.post(path, json={"template_values": {"memory": 1}})
        assert "unknown template variable 'memory'" in unknown_var.text
        bad_priority = api.post(path, json={"priority": "urgent"})
        assert bad_priority.status_code == 422
        assert "priority must be one of critical, high, medium, low" in bad_priority.text
        huge = api.post(path, json={"run_spec": {"blob": "x" * 1_100_000}})
        assert huge.status_code == 413 and "run_spec is" in huge.text
        unknown_queue = api.post("/api/v1/queues/admin/nope/items", json={})
        assert unknown_queue.status_code == 404
        assert "queue admin/nope does not exist" in unknown_queue.text
        assert _items(api, queue) == []


def test_enqueue_with_request_id_is_idempotent(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        path = f"/api/v1/queues/admin/{queue}/items"
        first = api.post(path, json={"request_id": "r-1"})
        again = api.post(path, json={"request_id": "r-1"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        assert len(_items(api, queue)) == 1


def test_waiting_claim_is_woken_by_an_enqueue(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
    claimed: list[httpx.Response] = []

    def claimer() -> None:
        with server.api() as api:
            body = {"agent_id": "agent-1", "queues": [f"admin/{queue}"], "wait": 30}
            claimed.append(api.post("/api/v1/agents/claim", json=body, timeout=60))

    thread = threading.Thread(target=claimer)
    thread.start()
    time.sleep(0.5)  # let the claim find the queue empty and start waiting
    with server.api() as api:
        api.post(f"/api/v1/queues/admin/{queue}/items", json={"run_spec": {"label": "x"}})
    thread.join()
    item = claimed[0].json()
    assert item is not None and item["run_spec"] == {"label": "x"}
    assert item["state"] == "claimed" and item["agent_id"] == "agent-1"


def test_waiting_claim_takes_work_that_fits_once_the_agent_reports_freed_gpus(
    server: LiveServer,
) -> None:
    with server.api() as api:
        queue = _create(api)
        api.post(f"/api/v1/queues/admin/{queue}/items", json={"template_values": {"gpus": 8}})
    claimed: list[httpx.Response] = []

    def claimer() -> None:
        with server.api() as api:
            # 2 GPUs free when the claim starts: the 8-GPU item does not fit.
            body = {
                "agent_id": "gpu-agent",
                "queues": [f"admin/{queue}"],
                "capacity": {"gpus": 2},
                "wait": 10,
            }
            claimed.append(api.post("/api/v1/agents/claim", json=body, timeout=60))

    thread = threading.Thread(target=claimer)
    thread.start()
    with server.api() as api:
        # The agent's jobs end and it heartbeats its new capacity until the claim answers
        # (a capacity sent before the claim waits is only for claims that wait).
        while thread.is_alive():
            beat = {"agent_id": "gpu-agent", "item_ids": [], "capacity": {"gpus": 8}}
            assert api.post("/api/v1/agents/heartbeat", json=beat).status_code == 200
            thread.join(0.2)
    item = claimed[0].json()
    assert item is not None and item["requirements"] == {"gpus": 8}  # not a 10 s null


def test_capacity_and_lifecycle_over_rest(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        path = f"/api/v1/queues/admin/{queue}/items"
        api.post(path, json={"template_values": {"gpus": 8}, "priority": "high"})
        api.post(path, json={"template_values": {"gpus": 2}, "priority": "low"})
        ask = {"agent_id": "a1", "queues": [f"admin/{queue}"], "capacity": {"gpus": 4}}
        blocked = api.post("/api/v1/agents/claim", json={**ask, "backfill": False})
        assert blocked.status_code == 200 and blocked.json() is None
        item = api.post("/api/v1/agents/claim", json=ask).json()
        assert item["requirements"] == {"gpus": 2}
        report = f"/api/v1/items/{item['id']}/report"
        assert api.post(report, json={"agent_id": "a1", "state": "launching"}).is_success
        running = api.post(report, json={"agent_id": "a1", "state": "running", "run_id": "r9"})
        assert running.json()["run_id"] == "r9"
        backwards = api.post(report, json={"agent_id": "a1", "state": "claimed"})
        assert backwards.status_code == 409 and "can move to" in backwards.text
        failed = api.post(
            report,
            json={
                "agent_id": "a1",
                "state": "failed",
                "error": {"stage": "run", "message": "exit code 3", "log": "Traceback..."},
            },
        ).json()
        assert failed["error"]["message"] == "exit code 3"
        assert list(failed["state_times"]) == [
            "pending",
            "claimed",
            "launching",
            "running",
            "failed",
        ]


def test_cancel_reaches_the_agent_through_its_heartbeat(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        api.post(f"/api/v1/queues/admin/{queue}/items", json={})
        item = api.post(
            "/api/v1/agents/claim", json={"agent_id": "a1", "queues": [f"admin/{queue}"]}
        ).json()
        assert api.post(f"/api/v1/items/{item['id']}/cancel").json()["state"] == "canceled"
        beat = api.post(
            "/api/v1/agents/heartbeat", json={"agent_id": "a1", "item_ids": [item["id"]]}
        ).json()
        assert beat[0]["state"] == "canceled"


def test_an_agent_that_stops_heartbeating_loses_its_item(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api, lease_seconds=0.5, max_attempts=3)
        api.post(f"/api/v1/queues/admin/{queue}/items", json={})
        ask = {"agent_id": "dead-agent", "queues": [f"admin/{queue}"]}
        first = api.post("/api/v1/agents/claim", json=ask).json()
        assert first["attempts"] == 1
        # The server's lease sweeper requeues it; a waiting claimer is woken for it.
        again = api.post(
            "/api/v1/agents/claim", json={**ask, "agent_id": "live-agent", "wait": 30}, timeout=60
        ).json()
    assert again["id"] == first["id"]
    assert again["attempts"] == 2 and again["agent_id"] == "live-agent"


def test_queue_backlog_and_outcomes_are_in_prometheus_metrics(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        path = f"/api/v1/queues/admin/{queue}/items"
        for priority in ("high", "high", "low"):
            api.post(path, json={"priority": priority})
        item = api.post(
            "/api/v1/agents/claim", json={"agent_id": "a1", "queues": [f"admin/{queue}"]}
        ).json()
        report = f"/api/v1/items/{item['id']}/report"
        api.post(report, json={"agent_id": "a1", "state": "running"})
        api.post(report, json={"agent_id": "a1", "state": "finished"})
        text = httpx.get(server.url + "/metrics").text
    label = f'queue="admin/{queue}"'
    assert f'runyard_queue_pending_items{{priority="high",{label}}} 1.0' in text
    assert f'runyard_queue_pending_items{{priority="low",{label}}} 1.0' in text
    assert f'runyard_queue_items_done_total{{{label},state="finished"}} 1.0' in text
    assert f"runyard_queue_wait_seconds_count{{{label}}} 1.0" in text
    assert f"runyard_queue_oldest_pending_seconds{{{label}}}" in text


def test_agents_register_heartbeat_and_are_listed(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        body = {
            "name": "pool-a100-0",
            "hostname": "node-7",
            "version": "runyard 0.1",
            "queues": [f"admin/{queue}"],
            "capacity": {"gpus": 8},
        }
        agent = api.post("/api/v1/agents", json=body)
        assert agent.status_code == 201, agent.text
        agent_id = agent.json()["id"]
        beat = {"agent_id": agent_id, "item_ids": [], "status": "running"}
        assert api.post("/api/v1/agents/heartbeat", json=beat).is_success
        listed = api.get("/api/v1/agents").json()
        bad = api.post("/api/v1/agents", json={**body, "queues": ["no-entity"]})
    mine = next(a for a in listed if a["id"] == agent_id)
    assert mine["alive"] is True and mine["status"] == "running"
    assert mine["capacity"] == {"gpus": 8} and mine["queues"] == [f"admin/{queue}"]
    assert bad.status_code == 422 and "must be 'entity/name'" in bad.text


def test_a_managed_queue_refuses_edits_from_anyone_but_its_owner(server: LiveServer) -> None:
    with server.api() as api:
        name = f"managed-{uuid.uuid4().hex[:6]}"
        spec = {"name": name, "entity": "admin", "managed_by": "runyard-operator"}
        assert api.post("/api/v1/queues", json=spec).status_code == 201
        path = f"/api/v1/queues/admin/{name}"
        by_hand = api.put(path, json={**spec, "managed_by": None, "max_attempts": 9})
        assert by_hand.status_code == 409
        assert "managed by runyard-operator" in by_hand.text and "LaunchQueue" in by_hand.text
        assert api.delete(path).status_code == 409
        assert api.get(path).json()["max_attempts"] == 3  # nothing changed
        by_owner = api.put(path, json={**spec, "max_attempts": 9})
        assert by_owner.status_code == 200 and by_owner.json()["max_attempts"] == 9
        assert api.delete(path, params={"managed_by": "runyard-operator"}).status_code == 204


def test_reprioritising_a_pending_item_over_rest(server: LiveServer) -> None:
    with server.api() as api:
        queue = _create(api)
        path = f"/api/v1/queues/admin/{queue}/items"
        low = api.post(path, json={"run_spec": {"label": "low"}, "priority": "low"}).json()
        api.post(path, json={"run_spec": {"label": "medium"}})
        raised = api.patch(f"/api/v1/items/{low['id']}", json={"priority": "critical"})
        assert raised.status_code == 200 and raised.json()["priority"] == 0
        ask = {"agent_id": "a1", "queues": [f"admin/{queue}"]}
        first = api.post("/api/v1/agents/claim", json=ask).json()
        assert first["run_spec"] == {"label": "low"}  # now ahead of the medium one
        late = api.patch(f"/api/v1/items/{first['id']}", json={"priority": "low"})
        assert late.status_code == 409 and "only orders pending items" in late.text
        bad = api.patch(f"/api/v1/items/{first['id']}", json={"priority": "urgent"})
        assert bad.status_code == 422 and "critical, high, medium, low" in bad.text
        missing = api.patch("/api/v1/items/0000dead", json={"priority": "low"})
        assert missing.status_code == 404 and "does not exist" in missing.text
        not_an_id = api.patch("/api/v1/items/nope", json={"priority": "low"})
        assert not_an_id.status_code == 404 and "ids are hexadecimal" in not_an_id.text


def test_a_crashed_agent_is_gone_after_three_missed_heartbeats_and_its_items_move(
    server: LiveServer,
) -> None:
    with server.api() as api:
        queue = _create(api, lease_seconds=600)  # the lease alone would take 10 minutes
        api.post(f"/api/v1/queues/admin/{queue}/items", json={"run_spec": {"label": "x"}})

        def register(name: str, interval: float | None) -> str:
            body = {"name": name, "queues": [f"admin/{queue}"], "heartbeat_interval_s": interval}
            response = api.post("/api/v1/agents", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        crashed, patient = register("crashed", 0.2), register("no-interval", None)
        claim = {"agent_id": crashed, "queues": [f"admin/{queue}"]}
        item = api.post("/api/v1/agents/claim", json=claim).json()
        report = {"agent_id": crashed, "state": "running", "run_id": "r-1"}
        assert api.post(f"/api/v1/items/{item['id']}/report", json=report).status_code == 200
        # The crashed agent never heartbeats again; its replacement finds the workload.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = {a["id"]: a["alive"] for a in api.get("/api/v1/agents").json()}
            if listed[crashed] is False:
                break
            time.sleep(0.2)
        assert listed[crashed] is False  # gone after 3 missed 0.2 s heartbeats (>= 2 s)
        assert listed[patient] is True  # an agent that promised nothing keeps 90 s
        successor = register("successor", 0.2)
        adopt = {"agent_id": successor, "item_ids": [item["id"]]}
        [moved] = api.post("/api/v1/agents/adopt", json=adopt).json()
        assert moved["agent_id"] == successor and moved["state"] == "running"
        assert moved["attempts"] == 1 and moved["run_id"] == "r-1"  # adopted, not rerun
