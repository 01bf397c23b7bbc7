"""W&B's public API reads a queue's items from Runyard: `wandb.Api().run_queue(...).items`,
each item's state, and the template values W&B's queue page shows."""

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
from wandb.sdk.launch.api import LaunchApi

queue = sys.argv[1]
spec = json.dumps({"docker": {"docker_image": "img:1"}})
launch = LaunchApi()
low = launch.push_to_run_queue_by_name("admin", "model-registry", queue, spec, {"gpus": 2}, 3)
high = launch.push_to_run_queue_by_name("admin", "model-registry", queue, spec, {"gpus": 4}, 1)
api = wandb.Api()
items = api.run_queue("admin", queue).items
query = '''
query Q($entity: String!, $queue: String!) {
  project(name: "model-registry", entityName: $entity) {
    runQueue(name: $queue) {
      runQueueItems(first: 100) { edges { node { id state priority templateVariableValues } } }
    }
  }
}'''
raw = requests.post(
    os.environ["WANDB_BASE_URL"] + "/graphql",
    auth=("api", os.environ["WANDB_API_KEY"]),
    json={"query": query, "variables": {"entity": "admin", "queue": queue}},
).json()["data"]
print("RESULT " + json.dumps({
    "pushed": [high["runQueueItemId"], low["runQueueItemId"]],
    "ids": [i.id for i in items],
    "states": [i.state for i in items],
    "nodes": [e["node"] for e in raw["project"]["runQueue"]["runQueueItems"]["edges"]],
}))
"""


def test_public_api_lists_queue_items_with_states_and_template_values(
    sqlite_server: LiveServer, sqlite_client: WandbClient, tmp_path: Path
) -> None:
    queue = f"q-{uuid.uuid4().hex[:6]}"
    with sqlite_server.api() as api:
        body = {
            "name": queue,
            "entity": "admin",
            "resource": "kubernetes",
            "config": {"spec": {"gpus": "{{gpus}}"}},
            "variables": [{"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8}],
        }
        assert api.post("/api/v1/queues", json=body).status_code == 201
    script = tmp_path / "queue_items.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [CLIENT_PYTHON, str(script), queue],
        env=sqlite_client.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = next(
        json.loads(line[len("RESULT ") :])
        for line in done.stdout.splitlines()
        if line.startswith("RESULT ")
    )
    assert result["ids"] == result["pushed"]  # claim order: the high-priority item first
    assert result["states"] == ["pending", "pending"]
    nodes = result["nodes"]
    assert [n["priority"] for n in nodes] == [1, 3]
    assert [json.loads(n["templateVariableValues"]) for n in nodes] == [{"gpus": 4}, {"gpus": 2}]
