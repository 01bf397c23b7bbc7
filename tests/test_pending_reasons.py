"""Why a pending item waits, in words: no live agent serves its queue, the agents are busy,
or it needs more GPUs than any has free (naming the numbers); on the item over REST, in
`runyard queue describe`, and decided by a pure function."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from click.testing import CliRunner

from runyard.cli import main
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements
from runyard.server.queues.pending import AgentView, pending_reason
from support.server import LiveServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _item(gpus: int = 0, attempts: int = 0) -> QueueItem:
    return QueueItem(
        id="i1",
        queue="a100",
        entity="admin",
        priority=Priority.MEDIUM,
        run_spec={},
        template_values={},
        rendered_config={},
        requirements=Requirements(gpus=gpus),
        state=ItemState.PENDING,
        state_times={"pending": T0},
        attempts=attempts,
        created_at=T0,
    )


def test_no_live_agent_serves_the_queue() -> None:
    reason = pending_reason(_item(), 0, [])
    assert reason.startswith("no live agent serves admin/a100")
    assert "runyard agent -q a100" in reason


def test_every_agent_is_busy() -> None:
    serving = [AgentView("n1", 8, busy=True), AgentView("n2", None, busy=True)]
    reason = pending_reason(_item(), 3, serving)
    assert reason.startswith("all 2 agent(s) serving admin/a100 are busy")
    assert reason.endswith("3 item(s) ahead in claim order")


def test_the_item_needs_more_gpus_than_any_agent_has_free() -> None:
    serving = [AgentView("n1", 2, busy=False), AgentView("n2", 1, busy=False)]
    reason = pending_reason(_item(gpus=4), 0, serving)
    assert reason.startswith("needs 4 GPU(s), more than any agent serving admin/a100 has free")
    assert "(at most 2; n1: 2, n2: 1)" in reason


def test_a_free_agent_will_claim_it_in_turn() -> None:
    serving = [AgentView("n1", 8, busy=False), AgentView("n2", 0, busy=True)]
    assert pending_reason(_item(gpus=4), 0, serving) == (
        "waiting for an agent to claim it (1 live agent(s) with free capacity serve "
        "admin/a100); next in line"
    )
    no_limit = pending_reason(_item(gpus=64), 2, [AgentView("n1", None, busy=False)])
    assert no_limit.endswith("2 item(s) ahead in claim order")


def test_a_requeued_item_says_so_first() -> None:
    reason = pending_reason(_item(attempts=2), 0, [])
    assert reason.startswith("requeued after attempt 2 (agent lost or preempted); no live agent")


def _reason(api: httpx.Client, item_id: str) -> str:
    item = api.get(f"/api/v1/items/{item_id}").json()
    assert item["state"] == "pending", item
    return str(item["pending_reason"])


def test_each_case_appears_on_the_item(sqlite_server: LiveServer) -> None:
    queue = f"reasons-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as api:
        body = {
            "name": queue,
            "entity": "admin",
            "resource": "kubernetes",
            "variables": [{"name": "gpus", "type": "integer", "minimum": 0, "maximum": 8}],
        }
        assert api.post("/api/v1/queues", json=body).status_code == 201
        path = f"/api/v1/queues/admin/{queue}/items"
        item = api.post(path, json={"template_values": {"gpus": 4}}).json()
        assert _reason(api, item["id"]).startswith(f"no live agent serves admin/{queue}")

        served = {"queues": [f"admin/{queue}"], "heartbeat_interval_s": 60}
        agent = api.post("/api/v1/agents", json={"name": "node-1", **served}).json()
        beat = {"agent_id": agent["id"], "status": "busy", "capacity": {"gpus": 8}}
        assert api.post("/api/v1/agents/heartbeat", json=beat).status_code == 200
        assert _reason(api, item["id"]).startswith(f"all 1 agent(s) serving admin/{queue} are busy")

        beat = {"agent_id": agent["id"], "status": "running", "capacity": {"gpus": 2}}
        assert api.post("/api/v1/agents/heartbeat", json=beat).status_code == 200
        assert "needs 4 GPU(s)" in _reason(api, item["id"])
        assert "(at most 2; node-1: 2)" in _reason(api, item["id"])
        listed = api.get(path).json()
        assert "needs 4 GPU(s)" in listed[0]["pending_reason"]
        with httpx.Client(base_url=sqlite_server.url) as browser:
            login = {"api_key": sqlite_server.admin_key, "next": "/"}
            assert browser.post("/login", data=login).status_code == 303
            page = browser.get(f"/launch/admin/{queue}").text
        assert "needs 4 GPU(s), more than any agent serving" in page

        beat = {"agent_id": agent["id"], "status": "polling", "capacity": {"gpus": 8}}
        assert api.post("/api/v1/agents/heartbeat", json=beat).status_code == 200
        assert _reason(api, item["id"]).startswith("waiting for an agent to claim it")

    env = {"RUNYARD_URL": sqlite_server.url, "RUNYARD_API_KEY": sqlite_server.admin_key}
    described = CliRunner().invoke(main, ["queue", "describe", item["id"][:8]], env=env)
    assert described.exit_code == 0, described.output
    assert "waiting: waiting for an agent to claim it" in described.output
