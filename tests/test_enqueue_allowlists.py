"""Enqueues are checked against the allow-lists of the pools serving the queue: a template
naming a Secret or priority class that a live pool refuses enqueues nothing, and the error
names the field and the pool setting that would allow it (REST and `wandb launch`); what
the server could not check, the agent refuses before it creates anything."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from conftest import CLIENT_PYTHON, WandbClient
from support.agent_cluster import Cluster, RunningAgent, final, until
from support.server import LiveServer

P = "spec.template.spec"
TEMPLATE = {
    "spec": {
        "template": {
            "spec": {
                "priorityClassName": "{{priority_class}}",
                "containers": [{"envFrom": [{"secretRef": {"name": "{{secret}}"}}]}],
            }
        }
    }
}
VARIABLES = [
    {"name": "secret", "type": "string", "default": "team-data"},
    {"name": "priority_class", "type": "string", "default": ""},
]
POLICY = {
    "name": "a100",
    "namespace": "ml-jobs",
    "allowed_secrets": ["team-*", "runyard-api-key"],
    "allowed_priority_classes": ["batch-low"],
}


def _queue(api: httpx.Client) -> str:
    name = f"k8s-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "entity": "admin",
        "resource": "kubernetes",
        "config": TEMPLATE,
        "variables": VARIABLES,
    }
    response = api.post("/api/v1/queues", json=body)
    assert response.status_code == 201, response.text
    return name


def _register(api: httpx.Client, queue: str, pool: dict[str, Any] | None) -> httpx.Response:
    body: dict[str, Any] = {"name": "k8s-agent", "queues": [f"admin/{queue}"]}
    if pool is not None:
        body["pool"] = pool
    return api.post("/api/v1/agents", json=body)


def _enqueue(api: httpx.Client, queue: str, **values: str) -> httpx.Response:
    run_spec = {"project": "p", "docker": {"docker_image": "org/train:1"}}
    body = {"run_spec": run_spec, "template_values": values}
    return api.post(f"/api/v1/queues/admin/{queue}/items", json=body)


def test_an_enqueue_naming_what_the_serving_pool_refuses_is_422_and_enqueues_nothing(
    server: LiveServer,
) -> None:
    with server.api() as api:
        queue = _queue(api)
        # No pool is known yet: the server cannot tell; the agent checks before launching.
        assert _enqueue(api, queue, secret="prod-db").status_code == 201
        registered = _register(api, queue, POLICY)
        assert registered.status_code == 201, registered.text
        assert registered.json()["pool"] == POLICY
        # A local-process (or W&B) agent serving the same queue reports no pool: no limits.
        assert _register(api, queue, None).status_code == 201

        refused = _enqueue(api, queue, secret="prod-db", priority_class="system-node-critical")
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert [p.split(":")[0] for p in detail["problems"]] == [
            f"{P}.containers[0].envFrom[0].secretRef.name",
            f"{P}.priorityClassName",
        ]
        assert "Secret 'prod-db' is not allowed on pool a100" in detail["message"]
        assert "priority class 'system-node-critical' is not allowed" in detail["message"]
        assert "spec.allowedSecrets" in detail["message"]
        assert "spec.allowedPriorityClasses" in detail["message"]
        items = api.get(f"/api/v1/queues/admin/{queue}/items").json()
        assert [i["template_values"]["secret"] for i in items] == ["prod-db"]  # the first only

        allowed = _enqueue(api, queue, secret="team-data", priority_class="batch-low")
        assert allowed.status_code == 201, allowed.text
        pod = allowed.json()["rendered_config"]["spec"]["template"]["spec"]
        assert pod["priorityClassName"] == "batch-low"
        assert len(api.get(f"/api/v1/queues/admin/{queue}/items").json()) == 2


def test_a_pool_policy_with_a_bad_pattern_is_refused_at_registration(server: LiveServer) -> None:
    with server.api() as api:
        queue = _queue(api)
        bad = _register(api, queue, {**POLICY, "allowed_secrets": ["Team_A"]})
        assert bad.status_code == 422
        assert "allowed_secrets" in bad.text and "Team_A" in bad.text


def test_wandb_launch_to_a_queue_whose_pool_refuses_the_secret_fails_with_the_field(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    with server.api() as api:
        queue = _queue(api)
        assert _register(api, queue, POLICY).status_code == 201
    wandb = str(Path(CLIENT_PYTHON).parent / "wandb")
    command = [wandb if Path(wandb).exists() else shutil.which("wandb") or "wandb", "launch"]
    args = ["--queue", queue, "--entity", "admin", "--project", "p"]
    args += ["--docker-image", "org/train:1", "--set-var", "secret=prod-db"]
    pushed = subprocess.run(
        [*command, *args], env=wandb_client.env, capture_output=True, text=True, timeout=120
    )
    output = pushed.stdout + pushed.stderr
    assert pushed.returncode != 0, output
    assert "prod-db" in output and "allowedSecrets" in output
    with server.api() as api:
        assert api.get(f"/api/v1/queues/admin/{queue}/items").json() == []


def test_an_item_enqueued_before_its_pool_was_known_fails_at_the_agent_stage(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    """Defense in depth: the agent checks the rendered config itself before it creates
    anything, so an item the server could not check (no live pool) fails naming the field."""
    config = {
        "spec": {
            "template": {
                "spec": {"containers": [{"envFrom": [{"secretRef": {"name": "{{secret}}"}}]}]}
            }
        }
    }
    queue = f"k8s-{uuid.uuid4().hex[:6]}"
    body = {
        "name": queue,
        "entity": "admin",
        "resource": "kubernetes",
        "config": config,
        "variables": [{"name": "secret", "type": "string"}],
    }
    assert cluster.api.post("/api/v1/queues", json=body).status_code == 201
    early = _enqueue(cluster.api, queue, secret="prod-db")
    assert early.status_code == 201, early.text  # no agent yet: nothing to check against
    start_agent(queue, allowed_secrets=["team-*"])

    failed = final(cluster, early.json()["id"])
    assert failed["state"] == "failed" and failed["error"]["stage"] == "agent"
    message = failed["error"]["message"]
    assert f"{P}.containers[0].envFrom[0].secretRef.name: Secret 'prod-db'" in message
    assert "spec.allowedSecrets" in message
    assert cluster.jobs_of(failed["id"]) == []  # nothing was created
    # The agent registered its pool: the server now refuses the same enqueue at once ...
    refused = _enqueue(cluster.api, queue, secret="prod-db")
    assert refused.status_code == 422 and "prod-db" in refused.text
    # ... and an allowed Secret reaches the Job.
    allowed = _enqueue(cluster.api, queue, secret="team-data")
    assert allowed.status_code == 201, allowed.text
    job = until(cluster, lambda: cluster.job_of(allowed.json()["id"]), what="the Job")
    main = job["spec"]["template"]["spec"]["containers"][0]
    assert main["envFrom"] == [{"secretRef": {"name": "team-data"}}]
