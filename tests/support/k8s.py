"""Builders for the pure Kubernetes tests: a pool, queue items, Node and Pod dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements

NOW = datetime(2026, 11, 24, tzinfo=UTC)
ITEM_ID = "3f2a9c0d4b1e4f6a8c7d9e0f1a2b3c4d"
SELECTOR = {"nvidia.com/gpu.product": "A100-SXM4-80GB"}
POOL = PoolSettings(
    name="a100",
    namespace="ml-jobs",
    node_selector=SELECTOR,
    server_url="http://runyard.runyard:8080",
    image_pull_secrets=["regcred"],
    service_account="runyard-job",
)
TEMPLATE: dict[str, Any] = {
    "spec": {
        "template": {
            "spec": {
                "containers": [{"resources": {"limits": {"memory": "64Gi", "nvidia.com/gpu": 2}}}]
            }
        }
    }
}


def make_item(
    gpus: int = 4,
    config: dict[str, Any] | None = None,
    item_id: str = ITEM_ID,
    run_id: str | None = None,
    **spec: Any,
) -> QueueItem:
    """A claimed item of queue team/a100 asking for `gpus`; `spec` overrides run_spec keys."""
    run_spec = {
        "docker": {"docker_image": "org/train:1"},
        "project": "llm",
        "entity": "team",
        "overrides": {"run_config": {"lr": 0.1}, "args": ["--epochs", "3"]},
        **spec,
    }
    return QueueItem(
        id=item_id,
        queue="a100",
        entity="team",
        priority=Priority.HIGH,
        run_spec=run_spec,
        template_values={"gpus": gpus},
        rendered_config=TEMPLATE if config is None else config,
        requirements=Requirements(gpus=gpus),
        state=ItemState.CLAIMED,
        state_times={"pending": NOW, "claimed": NOW},
        run_id=run_id,
        created_at=NOW,
    )


def node(
    name: str,
    gpus: int,
    unschedulable: bool = False,
    taints: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    ready: str | None = None,
) -> dict[str, Any]:
    """A Node of the pool (its GPU product label) with `gpus` allocatable."""
    status: dict[str, Any] = {"allocatable": {"nvidia.com/gpu": str(gpus), "cpu": "96"}}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {
        "metadata": {"name": name, "labels": SELECTOR if labels is None else labels},
        "spec": {"unschedulable": unschedulable, "taints": taints or []},
        "status": status,
    }


def pod(
    node_name: str | None,
    gpus: int,
    phase: str = "Running",
    image: str = "org/train:1",
    **status: Any,
) -> dict[str, Any]:
    """A pod asking for `gpus` (as a limit, like most templates), bound to `node_name`."""
    return {
        "metadata": {"name": f"p-{node_name}-{gpus}"},
        "spec": {
            "nodeName": node_name,
            "containers": [
                {"name": "job", "image": image, "resources": {"limits": {"nvidia.com/gpu": gpus}}}
            ],
        },
        "status": {"phase": phase, **status},
    }
