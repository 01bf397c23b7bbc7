"""GPU-hours accounting over the queues a caller may read (I/O shell of `accounting`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from runyard.launch.models import QueueItem
from runyard.server.auth import Principal
from runyard.server.db.models import LaunchAgent
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues.queue_service import queues_of
from runyard.server.unit_of_work import UnitOfWork

from .accounting import UsageKey, UsageReport, parse_since, usage_report

# Items read per queue; accounting past this many items of one queue needs a store query.
MAX_ITEMS_PER_QUEUE = 100_000


def pools_of(uow: UnitOfWork, agent_ids: Iterable[str]) -> dict[str, str]:
    """Agent id -> its pool's name (a local agent's pool is `local:<hostname>`)."""
    wanted = sorted({a for a in agent_ids if a})
    if not wanted:
        return {}
    with uow.read_session() as session:
        agents = session.scalars(select(LaunchAgent).where(LaunchAgent.id.in_(wanted)))
        return {
            agent.id: str((agent.pool or {}).get("name") or f"local:{agent.hostname or agent.name}")
            for agent in agents
        }


def gpu_usage(
    uow: UnitOfWork, principal: Principal, by: str, since: str, entity: str | None = None
) -> UsageReport:
    """GPU-hours in the last `since` (e.g. `7d`) by user, project, queue, pool or run,
    over the items of the queues the caller may read (of `entity` if given)."""
    try:
        key = UsageKey(by)
    except ValueError:
        choices = ", ".join(k.value for k in UsageKey)
        raise ServiceError(ErrorCode.INVALID, f"by: {by!r} is not one of {choices}") from None
    try:
        window = parse_since(since)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, str(exc)) from None
    now = uow.now()
    items: list[QueueItem] = []
    for queue in queues_of(uow, principal, entity):
        items.extend(uow.queue_store.list_items(queue, None, MAX_ITEMS_PER_QUEUE))
    pools = pools_of(uow, (i.agent_id or "" for i in items)) if key is UsageKey.POOL else {}
    return usage_report(items, key, now - window, now, pools)
