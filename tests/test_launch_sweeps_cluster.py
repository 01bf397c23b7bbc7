"""A launch sweep on the cluster simulator's GPU pool: `POST /api/v1/sweeps` (what
`runyard sweep create --queue` sends) puts trials on a Kubernetes queue with 4 GPUs each;
the Kubernetes agent runs them as Jobs on the a100 nodes, at most 2 at once, and each pod's
`wandb.init()` logs its trial's run into the sweep."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import yaml
from test_launch_sweeps import GRID, _most_in_flight

from conftest import SCRIPTS
from support.agent_cluster import A100, Cluster, RunningAgent, create_queue


def test_a_launch_sweep_runs_on_the_gpu_pool_at_most_two_at_once(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api)
    start_agent(queue)
    project = "sweep-on-k8s"
    body = {
        "config": yaml.safe_dump({**GRID, "image_uri": "org/train:1"}),
        "project": project,
        "queue": queue,
        "template_values": {"gpus": 4},
        "workers": 2,
        "entry_point": [sys.executable, str(SCRIPTS / "sweep_train.py")],
    }
    created = cluster.api.post("/api/v1/sweeps", json=body)
    assert created.status_code == 201, created.text
    path = f"admin/{project}/{created.json()['id']}"
    deadline = time.monotonic() + 240
    while (detail := cluster.api.get(f"/api/v1/sweeps/{path}").json())["state"] != "FINISHED":
        assert time.monotonic() < deadline, detail
        time.sleep(1)

    trials = detail["trials"]
    assert len(trials) == 6 and all(t["state"] == "finished" for t in trials), trials
    items = cluster.api.get(f"/api/v1/queues/admin/{queue}/items").json()
    assert len(items) == 6 and all(i["state"] == "finished" for i in items)
    assert _most_in_flight(items) <= 2
    for item in items:
        job = cluster.job_of(item["id"])
        assert job is not None
        pod_spec = job["spec"]["template"]["spec"]
        assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
        assert pod_spec["nodeSelector"] == A100
        run = cluster.api.get(f"/api/v1/runs/admin/{project}/{item['run_id']}").json()
        trial = next(t for t in trials if t["run"] == item["run_id"])
        assert run["state"] == "finished" and run["config"]["lr"] == trial["params"]["lr"]
