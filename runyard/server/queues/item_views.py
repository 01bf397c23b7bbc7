"""What the launch pages show about items and agents beyond the queue store: whether an
item's run exists, its exit code, and an agent's jobs with their GPUs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from runyard.launch.models import QueueItem
from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import Entity, LaunchAgent, Project, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues import agents, launched, queue_service
from runyard.server.tracking.access import check_entity_access
from runyard.server.unit_of_work import UnitOfWork

# How agents word a non-zero exit: "the job's process exited with code 3" (local processes),
# "... exited with code 137 (...)" and "OOMKilled, exit code 137" (Kubernetes pods).
_EXIT_CODE = re.compile(r"(?:exited with code|exit code) (-?\d+)")
ITEMS_PER_AGENT = 200
ITEMS_SCANNED = 1000  # per queue, in claim order (the store has no index by agent)


@dataclass(frozen=True)
class LaunchedRun:
    """A run an item started that exists on the server, with its state and exit code."""

    path: launched.RunPath
    state: str
    exit_code: int | None
    # The run's display name (what W&B shows); None where the run has none.
    display_name: str | None = None

    @property
    def label(self) -> str:
        """What the pages show for the run: its display name, else its id."""
        return self.display_name or self.path.run


@dataclass(frozen=True)
class ItemDetail:
    """One item as its page shows it: the item, its run if one exists, and its exit code."""

    item: QueueItem
    run: LaunchedRun | None
    exit_code: int | None
    agent: agents.AgentOut | None


@dataclass(frozen=True)
class AgentPage:
    """An agent and the items it claimed (held or done), newest first."""

    agent: agents.AgentOut
    items: list[QueueItem]


def exit_code_of(item: QueueItem, run: LaunchedRun | None) -> int | None:
    """The job's exit code: from the agent's error, else the run's own (pure)."""
    if item.error is not None:
        found = _EXIT_CODE.search(item.error.message)
        if found:
            return int(found.group(1))
    if run is not None and run.exit_code is not None:
        return run.exit_code
    return None


def existing_runs(uow: UnitOfWork, items: Iterable[QueueItem]) -> dict[str, LaunchedRun]:
    """Item id -> the run it started, for the items whose run exists (one query)."""
    wanted = {item.id: path for item in items if (path := launched.run_path(item)) is not None}
    if not wanted:
        return {}
    names = {path.run for path in wanted.values()}
    rows = uow.session.execute(
        select(Entity.name, Project.name, Run.name, Run.state, Run.exit_code, Run.display_name)
        .join(Project, Run.project_id == Project.id)
        .join(Entity, Project.entity_id == Entity.id)
        .where(Run.name.in_(names))
    ).all()
    found = {(e, p, r): (state, code, shown) for e, p, r, state, code, shown in rows}
    out: dict[str, LaunchedRun] = {}
    for item_id, path in wanted.items():
        hit = found.get((path.entity, path.project, path.run))
        if hit is not None:
            out[item_id] = LaunchedRun(path, hit[0], hit[1], hit[2])
    return out


def item_detail(uow: UnitOfWork, principal: Principal, item_id: str) -> ItemDetail:
    """An item the caller may read, with its run (when one exists), exit code and agent."""
    item = queue_service.item_with_reason(uow, principal, item_id)
    run = existing_runs(uow, [item]).get(item.id)
    agent = None
    if item.agent_id:
        try:
            agent = agent_out(uow, principal, item.agent_id)
        except ServiceError:
            agent = None  # a lease holder that never registered (or another entity's agent)
    return ItemDetail(item, run, exit_code_of(item, run), agent)


def agent_out(uow: UnitOfWork, principal: Principal, agent_id: str) -> agents.AgentOut:
    """A registered agent of an entity the caller may read: status, capacity, heartbeat."""
    with uow.read_session() as session:
        row = session.get(LaunchAgent, agent_id)
        entity = session.get(Entity, row.entity_id) if row is not None else None
        if row is None or entity is None:
            raise ServiceError(
                ErrorCode.NOT_FOUND,
                f"launch agent {agent_id} is not registered; the Launch page lists the agents",
            )
        check_entity_access(principal, entity.name, Action.READ)
        return agents.agent_out(row, entity.name, uow.now())


def agent_page(uow: UnitOfWork, principal: Principal, agent_id: str) -> AgentPage:
    """An agent the caller may read, and the items of its queues it claimed, newest first."""
    agent = agent_out(uow, principal, agent_id)
    items: list[QueueItem] = []
    for path in agent.queues:
        entity, _, name = path.partition("/")
        try:
            queue = queue_service.find_queue(uow, principal, entity, name)
        except ServiceError:
            continue  # a queue of an entity the caller may not read: its items stay hidden
        if queue is not None:
            claimed = queue_service.items_of(uow, queue, ITEMS_SCANNED)
            items += [i for i in claimed if i.agent_id == agent.id]
    items.sort(key=lambda i: i.created_at, reverse=True)
    return AgentPage(agent, items[:ITEMS_PER_AGENT])
