"""Queues made and removed through the official client, as its own launch tests do:
`wandb.Api().create_run_queue` without a resource config, `createRunQueue` with no
`defaultResourceConfigID` at all, and `RunQueue.delete()` (GraphQL `deleteRunQueues`)."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from conftest import CLIENT_PYTHON, WandbClient
from support.server import LiveServer

SCRIPT = r"""
import json, os, sys
import requests
import wandb

name = sys.argv[1]
api = wandb.Api()


def out(step, value):
    print("RESULT", json.dumps({"step": step, "value": value}), flush=True)


def attempt(step, call):
    try:
        out(step, {"ok": call()})
    except Exception as exc:
        out(step, {"error": str(exc)})


def gql(query, variables):
    answer = requests.post(
        os.environ["WANDB_BASE_URL"] + "/graphql",
        json={"query": query, "variables": variables},
        auth=("api", os.environ["WANDB_API_KEY"]),
    )
    return answer.json()


def queue_names():
    auth = {"Authorization": "Bearer " + os.environ["WANDB_API_KEY"]}
    listed = requests.get(os.environ["WANDB_BASE_URL"] + "/api/v1/queues", headers=auth)
    return sorted(q["name"] for q in listed.json())


queue = api.create_run_queue(name, "local-process", entity="admin")
out("created", {"name": queue.name, "id": queue.id, "type": queue.type})
bare = gql(
    "mutation($e: String!, $q: String!) { createRunQueue(input: {entityName: $e, "
    "projectName: \"model-registry\", queueName: $q, access: PROJECT}) { success queueID } }",
    {"e": "admin", "q": name + "-bare"},
)
out("bare", bare)
out("listed", queue_names())
# A local-process queue runs commands: an item naming none is refused, saying what to give
# (the query LaunchApi.push_to_run_queue_by_name sends; that method hides the error).
out("push_bare", gql(
    "mutation($e: String!, $q: String!, $s: JSONString!) { pushToRunQueueByName(input: "
    "{entityName: $e, projectName: \"model-registry\", queueName: $q, runSpec: $s}) "
    "{ runQueueItemId } }",
    {"e": "admin", "q": name, "s": json.dumps({"entity": "admin", "project": "p"})},
))
api.run_queue("admin", name).delete()
attempt("delete_again", lambda: gql(
    "mutation($ids: [ID!]!) { deleteRunQueues(input: {queueIDs: $ids}) { success } }",
    {"ids": [queue.id]},
))
deleted = gql(
    "mutation($ids: [ID!]!) { deleteRunQueues(input: {queueIDs: $ids}) { success } }",
    {"ids": [bare["data"]["createRunQueue"]["queueID"]]},
)
out("deleted_bare", deleted)
out("left", queue_names())
"""


def test_create_run_queue_without_a_config_then_delete_it(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    name = f"cq-{uuid.uuid4().hex[:6]}"
    script = tmp_path / "queues.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [CLIENT_PYTHON, str(script), name],
        env=sqlite_client.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    steps = {
        s["step"]: s["value"]
        for s in (
            json.loads(line[7:]) for line in done.stdout.splitlines() if line[:7] == "RESULT "
        )
    }
    assert steps["created"]["name"] == name and steps["created"]["type"] == "local-process"
    assert steps["bare"]["data"]["createRunQueue"]["success"] is True, steps["bare"]
    assert {name, f"{name}-bare"} <= set(steps["listed"])
    refused = steps["push_bare"]
    assert refused["data"]["pushToRunQueueByName"] is None, refused
    assert "run_spec.entry_point is required" in refused["errors"][0]["message"]
    assert f"runyard launch -q {name} -- python train.py" in refused["errors"][0]["message"]
    # A queue id that names nothing any more is refused, naming the field.
    again = steps["delete_again"]["ok"]
    assert again["data"]["deleteRunQueues"] is None
    assert "queueIDs: launch queue" in again["errors"][0]["message"]
    assert "does not exist" in again["errors"][0]["message"]
    assert steps["deleted_bare"]["data"]["deleteRunQueues"]["success"] is True
    assert name not in steps["left"] and f"{name}-bare" not in steps["left"]
    with sqlite_server.api() as api:
        assert api.get(f"/api/v1/queues/admin/{name}").status_code == 404
