"""Decisions for serving the official `wandb launch-agent`: what a popped run spec looks
like, and what an acked item becomes when its run ends. Pure functions; resolvers call them.

The W&B agent reports nothing once a run is launched (wandb.ai derives the item's state
from the run), so Runyard does the same: an acked item follows its linked run.
"""

from __future__ import annotations

import copy
from typing import Any

from runyard.launch.models import ItemError, ItemState, Queue, QueueItem


def popped_run_spec(item: QueueItem, queue: Queue) -> dict[str, Any]:
    """The run spec as W&B's agent expects it from `popFromRunQueue`.

    The queue's resource is set, and its rendered config template goes under
    `resource_args[resource]`, laid over what the pusher sent: the queue's admin owns
    the template, so its values win (W&B treats the queue config the same way).
    """
    spec = copy.deepcopy(item.run_spec)
    spec["resource"] = queue.resource
    resource_args = spec.get("resource_args")
    if not isinstance(resource_args, dict):
        resource_args = {}
    own = resource_args.get(queue.resource)
    merged = _overlay(own if isinstance(own, dict) else {}, item.rendered_config)
    resource_args[queue.resource] = merged
    spec["resource_args"] = resource_args
    return spec


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def outcome_of_run(
    run_state: str | None, exit_code: int | None
) -> tuple[ItemState, ItemError | None] | None:
    """The final state of an acked item whose run is in `run_state`; None while it runs."""
    if run_state == "finished":
        return ItemState.FINISHED, None
    if run_state in ("failed", "crashed"):
        code = "" if exit_code is None else f" with exit code {exit_code}"
        return ItemState.FAILED, ItemError(
            stage="run", message=f"the run ended {run_state}{code}; see its logs"
        )
    if run_state == "preempted":
        return ItemState.PREEMPTED, None
    return None


def run_location(item: QueueItem) -> tuple[str, str, str] | None:
    """(entity, project, run id) of an acked item's run, from its spec; None if unknown."""
    entity = item.run_spec.get("entity") or item.entity
    project = item.run_spec.get("project")
    if not item.run_id or not isinstance(entity, str) or not isinstance(project, str):
        return None
    return entity, project, item.run_id
