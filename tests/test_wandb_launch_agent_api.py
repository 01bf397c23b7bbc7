"""Each launch-agent operation, called through the official client's own LaunchApi (what
`wandb launch-agent` uses): leases renewed by the agent's heartbeat, warnings and failures
recorded with W&B's stage/message/files, and clear errors for bad requests."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from conftest import CLIENT_PYTHON, WandbClient
from support.server import LiveServer

# Runs inside the official client's environment. Each step prints one RESULT line; a
# refused call prints the client's error text, as a user of the agent would see it.
SCRIPT = r"""
import base64, json, os, sys
import requests
from wandb.sdk.launch.api import LaunchApi

queue = sys.argv[1]
api = LaunchApi()
base = os.environ["WANDB_BASE_URL"]
auth = {"Authorization": "Bearer " + os.environ["WANDB_API_KEY"]}


def out(step, value):
    print("RESULT", json.dumps({"step": step, "value": value}), flush=True)


def attempt(step, call):
    try:
        out(step, {"ok": call()})
    except Exception as exc:  # the client's CommError/LaunchError carry the server's message
        out(step, {"error": str(exc)})


def lease(item_id):
    raw = base64.b64decode(item_id).decode().split(":", 1)[1]  # node id -> Runyard item id
    return requests.get(f"{base}/api/v1/items/{raw}", headers=auth).json()["lease_expires_at"]


spec = json.dumps({"entity": "admin", "project": "p", "docker": {"docker_image": "img:1"}})
first = api.push_to_run_queue_by_name("admin", "model-registry", queue, spec, {"gpus": 3}, 0)
second = api.push_to_run_queue_by_name("admin", "model-registry", queue, spec, {"gpus": 1}, 3)
out("queues", api.get_project_run_queues("admin", "model-registry"))
agent = api.create_launch_agent("admin", "model-registry", [queue], {"max_jobs": 1}, "wandb@test")
agent_id = agent["launchAgentId"]
out("team", api.entity_is_team("admin"))
popped = api.pop_from_run_queue(queue, "admin", "model-registry", agent_id)
out("popped", popped)
item_id = popped["runQueueItemId"]
attempt("warn", lambda: api.update_run_queue_item_warning(item_id, "slow pull", "build", ["w.log"]))
attempt("ack", lambda: api.ack_run_queue_item(item_id, "run-abc"))
attempt("ack_again", lambda: api.ack_run_queue_item(item_id, "run-xyz"))
before = lease(item_id)
attempt("heartbeat", lambda: api.update_launch_agent_status(agent_id, "RUNNING"))
out("lease", [before, lease(item_id)])
out("agent", api.get_launch_agent(agent_id))
attempt("fail", lambda: api.fail_run_queue_item(item_id, "boom", "run", [item_id + "/error/e.log"]))
attempt("fail_pending", lambda: api.fail_run_queue_item(second["runQueueItemId"], "x", "agent"))
nowhere = "no-such-queue"
attempt("pop_unknown", lambda: api.pop_from_run_queue(nowhere, "admin", "model-registry", agent_id))
stranger = "TGF1bmNoQWdlbnQ6bm9wZQ=="  # a well-formed LaunchAgent id nobody registered
attempt("heartbeat_unknown", lambda: api.update_launch_agent_status(stranger, "POLLING"))
attempt("ack_bad_id", lambda: api.ack_run_queue_item("not-an-id", "run-1"))
out("first", first["runQueueItemId"])
"""


def test_launch_api_operations(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    queue = f"q-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as api:
        created = api.post(
            "/api/v1/queues",
            json={
                "name": queue,
                "entity": "admin",
                "resource": "kubernetes",
                "config": {"spec": {"gpus": "{{gpus}}"}},
                "variables": [{"name": "gpus", "type": "integer", "default": 1}],
            },
        )
        assert created.status_code == 201, created.text
    script = tmp_path / "launch_api.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [CLIENT_PYTHON, str(script), queue],
        env=sqlite_client.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    steps: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT ") :])
            steps[record["step"]] = record["value"]

    assert [q["name"] for q in steps["queues"]] == [queue]
    assert steps["team"] is False
    # The critical item comes first; its spec is an object with the queue's resource and
    # rendered config merged in, as W&B's agent reads it.
    popped = steps["popped"]
    assert popped["runQueueItemId"] == steps["first"]
    assert popped["runSpec"]["resource"] == "kubernetes"
    assert popped["runSpec"]["resource_args"] == {"kubernetes": {"spec": {"gpus": 3}}}
    assert popped["runSpec"]["docker"] == {"docker_image": "img:1"}
    assert steps["warn"] == {"ok": True}
    assert steps["ack"] == {"ok": True}
    assert "not claimed" in steps["ack_again"]["error"]
    # The agent's heartbeat renews the leases of the items it holds.
    before, after = steps["lease"]
    assert after > before
    agent = steps["agent"]
    assert agent["agentStatus"] == "RUNNING" and agent["stopPolling"] is False
    assert agent["runQueues"] == [steps["queues"][0]["id"]]
    assert steps["fail"] == {"ok": True}
    assert "pending" in steps["fail_pending"]["error"]
    assert "no-such-queue" in steps["pop_unknown"]["error"]
    assert "not registered" in steps["heartbeat_unknown"]["error"]
    assert "runQueueItemId" in steps["ack_bad_id"]["error"]

    with sqlite_server.api() as api:
        items = {i["priority"]: i for i in api.get(f"/api/v1/queues/admin/{queue}/items").json()}
    failed, untouched = items[0], items[3]
    assert failed["state"] == "failed"
    assert failed["run_id"] == "run-abc"
    assert failed["error"]["stage"] == "run" and failed["error"]["message"] == "boom"
    assert "error/e.log" in failed["error"]["log"]
    assert failed["warnings"] == ["build: slow pull (files in the agent's run: w.log)"]
    assert untouched["state"] == "pending"  # refused requests changed nothing


UPSERT_SCRIPT = r"""
import json, sys
import wandb

api = wandb.Api()
name = sys.argv[1]
variables = {"gpus": {"schema": {"type": "integer", "minimum": 1, "maximum": 8, "default": 1}}}


def attempt(step, call):
    try:
        call()
        value = {"ok": True}
    except Exception as exc:
        value = {"error": str(exc)}
    print("RESULT", json.dumps({"step": step, "value": value}), flush=True)


config = {"spec": {"gpus": "{{gpus}}"}}
attempt("create", lambda: api.upsert_run_queue(name, config, "kubernetes", "admin", variables))
config2 = {"spec": {"gpus": "{{gpus}}", "tier": "a100"}}
attempt("update", lambda: api.upsert_run_queue(
    name, config2, "kubernetes", "admin", variables, prioritization_mode="V0"))
attempt("sagemaker", lambda: api.upsert_run_queue(name + "-sm", {}, "sagemaker", "admin"))
bad = {"gpus": {"schema": {"type": "integer", "minimum": 9, "maximum": 2}}}
attempt("bad_range", lambda: api.upsert_run_queue(name + "-x", config, "kubernetes", "admin", bad))
local = {"env": {"GPUS": "{{gpus}}"}}
made = lambda: api.create_run_queue(name + "-c", "local-process", "admin", "V0", local, variables)
attempt("created", made)
attempt("created_again", made)
"""


def test_upsert_run_queue_through_the_official_api(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    queue = f"q-{uuid.uuid4().hex[:6]}"
    script = tmp_path / "upsert.py"
    script.write_text(UPSERT_SCRIPT)
    done = subprocess.run(
        [CLIENT_PYTHON, str(script), queue],
        env=sqlite_client.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    steps: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT ") :])
            steps[record["step"]] = record["value"]
    assert steps["create"] == {"ok": True}, done.stdout + done.stderr
    assert steps["update"] == {"ok": True}
    assert "sagemaker" in steps["sagemaker"]["error"]
    assert "local-process" in steps["sagemaker"]["error"]  # names what works instead
    assert "gpus" in steps["bad_range"]["error"] and "maximum" in steps["bad_range"]["error"]
    with sqlite_server.api() as api:
        stored = api.get(f"/api/v1/queues/admin/{queue}").json()
        names = [q["name"] for q in api.get("/api/v1/queues").json()]
    assert stored["resource"] == "kubernetes"
    assert stored["config"] == {"spec": {"gpus": "{{gpus}}", "tier": "a100"}}
    assert stored["prioritization"] is True
    assert stored["variables"][0]["name"] == "gpus"
    assert stored["variables"][0]["maximum"] == 8
    assert f"{queue}-sm" not in names and f"{queue}-x" not in names
    # create_run_queue: a resource config first, then the queue that takes it.
    assert steps["created"] == {"ok": True}
    assert "exists: pick another name" in steps["created_again"]["error"]
    with sqlite_server.api() as api:
        created = api.get(f"/api/v1/queues/admin/{queue}-c").json()
    assert created["resource"] == "local-process"
    assert created["config"] == {"env": {"GPUS": "{{gpus}}"}}
    assert created["prioritization"] is True
    assert [v["name"] for v in created["variables"]] == ["gpus"]


POP_SCRIPT = r"""
import json, sys
from wandb.sdk.launch.api import LaunchApi

api = LaunchApi()
agent = api.create_launch_agent("admin", "model-registry", [sys.argv[1]], {}, "wandb@test")
popped = api.pop_from_run_queue(sys.argv[1], "admin", "model-registry", agent["launchAgentId"])
print("RESULT", json.dumps(popped), flush=True)
"""


def test_popped_item_returns_when_the_wandb_agent_goes_silent(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    """The W&B agent renews leases only through its loop: one that pops and dies loses
    the item at the lease expiry, and the next agent gets it."""
    queue = f"q-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as api:
        body = {"name": queue, "entity": "admin", "resource": "kubernetes", "lease_seconds": 1}
        assert api.post("/api/v1/queues", json=body).status_code == 201
        pushed = api.post(f"/api/v1/queues/admin/{queue}/items", json={"run_spec": {}})
        assert pushed.status_code in (200, 201), pushed.text
    script = tmp_path / "pop.py"
    script.write_text(POP_SCRIPT)

    def pop() -> dict[str, Any] | None:
        done = subprocess.run(
            [CLIENT_PYTHON, str(script), queue],
            env=sqlite_client.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        [line] = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        result: dict[str, Any] | None = json.loads(line[len("RESULT ") :])
        return result

    first = pop()
    assert first is not None
    deadline = time.monotonic() + 60
    item: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with sqlite_server.api() as api:
            [item] = api.get(f"/api/v1/queues/admin/{queue}/items").json()
        if item["state"] == "pending":
            break
        time.sleep(0.3)
    assert item["state"] == "pending" and item["attempts"] == 1, item
    second = pop()
    assert second is not None and second["runQueueItemId"] == first["runQueueItemId"]
