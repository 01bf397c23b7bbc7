"""Where a launched run lives: the same entity and project the agent gives the job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runyard.launch.agent.run_env import wandb_values
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements
from runyard.server.queues.launched import RunPath, run_path


def _item(run_spec: dict[str, Any], run_id: str | None) -> QueueItem:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return QueueItem(
        id="i1",
        queue="q",
        entity="team",
        priority=Priority.MEDIUM,
        run_spec=run_spec,
        template_values={},
        rendered_config={},
        requirements=Requirements(),
        state=ItemState.RUNNING,
        state_times={"running": now},
        run_id=run_id,
        created_at=now,
    )


def test_run_path_matches_the_agents_environment() -> None:
    for spec in ({}, {"project": "vision"}, {"project": "vision", "entity": "other"}):
        item = _item(spec, "abc123")
        env = wandb_values(item, "http://server", "abc123")
        assert run_path(item) == RunPath(env["WANDB_ENTITY"], env["WANDB_PROJECT"], "abc123")


def test_an_item_without_a_run_has_no_run_path() -> None:
    assert run_path(_item({"project": "vision"}, None)) is None
