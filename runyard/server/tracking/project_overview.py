"""A project's Overview (W&B's `/<entity>/<project>/overview`): its runs counted by state, the
latest runs, when it was last active and how much compute its runs used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from runyard.server.access import Action, allows
from runyard.server.auth import Principal
from runyard.server.db.models import Run
from runyard.server.registry import access as registry_access
from runyard.server.tracking.access import accessible_project
from runyard.server.unit_of_work import UnitOfWork

RECENT_RUNS = 10
# The order the Overview lists states in: live first, then how runs ended.
STATE_ORDER = ("running", "pending", "finished", "failed", "crashed", "killed", "preempted")


@dataclass(frozen=True)
class RecentRun:
    """One of the project's latest runs as the Overview lists it."""

    name: str
    display_name: str
    state: str
    job_type: str | None
    created_at: datetime
    seconds: float


@dataclass(frozen=True)
class ProjectOverview:
    """What a project's Overview page shows."""

    entity: str
    name: str
    description: str | None
    created_at: datetime
    run_count: int
    by_state: list[tuple[str, int]]
    last_activity: datetime | None
    compute_seconds: float
    recent: list[RecentRun]
    can_edit: bool = False  # whether the caller may change the description


def run_seconds(created: datetime, finished: datetime | None, heartbeat: datetime) -> float:
    """How long a run ran: to its end, or to its last heartbeat while it still runs."""
    return max(((finished or heartbeat) - created).total_seconds(), 0.0)


def ordered_states(counts: dict[str, int]) -> list[tuple[str, int]]:
    """State counts in the Overview's order; states it does not know come last, by name."""
    known = [(s, counts[s]) for s in STATE_ORDER if counts.get(s)]
    other = sorted((s, n) for s, n in counts.items() if s not in STATE_ORDER and n)
    return known + other


def project_overview(
    uow: UnitOfWork, principal: Principal, entity: str, project: str
) -> ProjectOverview:
    """The Overview of a project the caller may read (404 for a missing or hidden one)."""
    proj = accessible_project(uow.session, principal, entity, project)
    live = (Run.project_id == proj.id, Run.archived_at.is_(None))
    rows = uow.session.execute(
        select(Run.state, func.count(Run.id)).where(*live).group_by(Run.state)
    ).all()
    counts: dict[str, int] = {state: n for state, n in rows}
    last = uow.session.scalar(select(func.max(Run.updated_at)).where(*live))
    spans = uow.session.execute(
        select(Run.created_at, Run.finished_at, Run.heartbeat_at).where(*live)
    ).all()
    latest = uow.session.scalars(
        select(Run).where(*live).order_by(Run.created_at.desc(), Run.id.desc()).limit(RECENT_RUNS)
    ).all()
    recent = [
        RecentRun(
            name=r.name,
            display_name=r.display_name or r.name,
            state=r.state,
            job_type=r.job_type,
            created_at=r.created_at,
            seconds=run_seconds(r.created_at, r.finished_at, r.heartbeat_at),
        )
        for r in latest
    ]
    return ProjectOverview(
        entity=entity,
        name=proj.name,
        description=proj.description,
        created_at=proj.created_at,
        run_count=sum(counts.values()),
        by_state=ordered_states(counts),
        last_activity=last,
        compute_seconds=sum(run_seconds(*span) for span in spans),
        recent=recent,
        can_edit=allows(principal, entity, Action.WRITE)
        and not registry_access.governs(entity, project),
    )
