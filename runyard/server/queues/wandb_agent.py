"""Serving the official `wandb launch-agent`: its loop keeps its items alive and settled.

The W&B agent never heartbeats per item: each loop renews the leases of every item it
holds, and moves acked items to the final state of their runs (`wandb_agent_rules`).
"""

from __future__ import annotations

import logging

from runyard.launch.models import ItemState
from runyard.server.queues import agent_service, queue_service
from runyard.server.queues import wandb_agent_rules as rules
from runyard.server.queues.agent_service import AgentView
from runyard.server.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


def keep_alive(uow: UnitOfWork, agent: AgentView) -> None:
    """Renew the leases of the agent's items and settle acked items whose runs ended."""
    mine = queue_service.held_items(uow, agent.id, agent.queues)
    if mine:
        queue_service.renew_leases(uow, agent.id, [i.id for i in mine])
    for item in mine:
        where = rules.run_location(item)
        if item.state is not ItemState.RUNNING or where is None:
            continue
        row = agent_service.run_outcome(uow, *where)
        outcome = rules.outcome_of_run(row[0], row[1]) if row else None
        if outcome is not None:
            state, error = outcome
            queue_service.report_held(uow, item, state, error=error)
            log.info(
                "wandb launch item settled",
                extra={"item": item.id, "run": item.run_id, "state": state.value},
            )
