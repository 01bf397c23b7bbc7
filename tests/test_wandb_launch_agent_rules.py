"""The decisions behind serving the W&B agent: the popped spec and the item's outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from runyard.launch.models import ItemState, Priority, Queue, QueueItem, Requirements
from runyard.server.queues.wandb_agent_rules import outcome_of_run, popped_run_spec

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _item(run_spec: dict[str, object], rendered: dict[str, object]) -> QueueItem:
    return QueueItem(
        id="i1",
        queue="q",
        entity="admin",
        priority=Priority.HIGH,
        run_spec=run_spec,
        template_values={"gpus": 4},
        rendered_config=rendered,
        requirements=Requirements(),
        state=ItemState.CLAIMED,
        state_times={"pending": NOW},
        created_at=NOW,
    )


def test_popped_spec_carries_queue_resource_and_its_config_over_the_pushers() -> None:
    queue = Queue(id="1", name="q", entity="admin", resource="kubernetes", created_at=NOW)
    spec: dict[str, object] = {
        "job": "admin/p/train:latest",
        "resource_args": {"kubernetes": {"spec": {"gpus": 1, "node": "any"}}},
    }
    item = _item(spec, {"spec": {"gpus": 4}})
    popped = popped_run_spec(item, queue)
    assert popped["resource"] == "kubernetes"
    assert popped["resource_args"] == {"kubernetes": {"spec": {"gpus": 4, "node": "any"}}}
    assert popped["job"] == "admin/p/train:latest"
    assert item.run_spec == spec  # the stored spec is left as pushed


def test_run_states_settle_acked_items() -> None:
    assert outcome_of_run("running", None) is None
    assert outcome_of_run("finished", 0) == (ItemState.FINISHED, None)
    failed = outcome_of_run("crashed", 137)
    assert failed is not None and failed[0] is ItemState.FAILED
    assert failed[1] is not None and "exit code 137" in failed[1].message
    assert outcome_of_run("preempted", None) == (ItemState.PREEMPTED, None)
