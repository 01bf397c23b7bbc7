"""The pools serving a queue and their allow-lists, checked at enqueue.

Kubernetes agents report their pool's policy (`PoolPolicy`: the Secrets and priority
classes queue templates may name) when they register. At enqueue the server checks the
item's rendered config against every pool with a live agent serving the queue, so an item
that some pool would refuse is refused now, naming the field, instead of failing later on
whichever agent claims it. Only agents registered under the queue's own entity count: who
may register there may already change the queue. A pool with no live agent (scaled to zero,
or never started) is not known here; its agents check again before they launch anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from runyard.launch.kubernetes.allowlists import PoolPolicy, allowlist_problems
from runyard.launch.models import Queue
from runyard.server.api.models import as_utc
from runyard.server.db.models import Entity, LaunchAgent
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues.agents import SILENT_AFTER, silence_limit

# No agent stays alive longer than this without a heartbeat (300 s: the longest interval).
_LONGEST_SILENCE = max(SILENT_AFTER, silence_limit(300))


class PoolPolicyRefused(ServiceError):
    """The rendered config names a Secret or priority class a serving pool does not allow."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            ErrorCode.UNPROCESSABLE,
            "the queue's config template names what the pools serving the queue do not "
            "allow:\n  - " + "\n  - ".join(problems),
            details={"problems": problems},
        )
        self.problems = problems


def live_policies(
    agents: Sequence[tuple[list[str], dict[str, object] | None, datetime, float | None]],
    queue_path: str,
    now: datetime,
) -> list[PoolPolicy]:
    """The distinct policies of live agents serving `queue_path` (pure): each agent as
    (queues, reported pool policy, last heartbeat, heartbeat interval)."""
    found: list[PoolPolicy] = []
    for queues, pool, heartbeat, interval in agents:
        if pool is None or queue_path not in queues:
            continue
        if now - heartbeat >= silence_limit(interval):
            continue
        try:
            policy = PoolPolicy.model_validate(pool)
        except ValidationError:
            continue  # written by an older or newer server: its agents still check
        if policy not in found:
            found.append(policy)
    return found


def serving_policies(
    sessions: sessionmaker[Session], queue: Queue, now: datetime
) -> list[PoolPolicy]:
    """Policies of the pools with a live agent serving the queue (a short read session of
    its own: an enqueue must not hold SQLite's write lock that the queue store waits for)."""
    with sessions() as session:
        rows = session.execute(
            select(
                LaunchAgent.queues,
                LaunchAgent.pool,
                LaunchAgent.heartbeat_at,
                LaunchAgent.heartbeat_interval_s,
            )
            .join(Entity, Entity.id == LaunchAgent.entity_id)
            .where(
                Entity.name == queue.entity,
                LaunchAgent.heartbeat_at > now - _LONGEST_SILENCE,
            )
        ).all()
    agents = [
        (list(q or []), pool, as_utc(heartbeat) or now, interval)
        for q, pool, heartbeat, interval in rows
    ]
    return live_policies(agents, f"{queue.entity}/{queue.name}", now)


def check_pools(rendered: dict[str, object], policies: Sequence[PoolPolicy]) -> None:
    """Raise PoolPolicyRefused naming every reference some serving pool does not allow."""
    problems = [p for policy in policies for p in allowlist_problems(rendered, policy)]
    if problems:
        raise PoolPolicyRefused(problems)
