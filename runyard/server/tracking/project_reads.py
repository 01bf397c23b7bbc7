"""Reading projects as a whole: the project list with activity, a workspace's runs and metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select

from runyard.server.auth import Principal
from runyard.server.db.models import Entity, MetricRollup, Project, Run
from runyard.server.registry import access as registry_access
from runyard.server.tracking import rollups
from runyard.server.tracking.access import accessible_project, check_entity_access
from runyard.server.tracking.rollups import Bucket
from runyard.server.tracking.runs import find_project, find_run
from runyard.server.unit_of_work import UnitOfWork

MAX_RUNS_PER_METRIC_READ = 500


@dataclass(frozen=True)
class RunSpan:
    """When a run started, finished and was last heard from (for compute totals)."""

    created_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime


@dataclass(frozen=True)
class ProjectActivity:
    """A project with its run count, last activity and each run's time span."""

    name: str
    entity: str
    run_count: int
    last_activity: datetime | None
    created_at: datetime
    spans: list[RunSpan]
    description: str | None = None


def project_activity(uow: UnitOfWork, principal: Principal, entity: str) -> list[ProjectActivity]:
    """The projects of `entity` with their runs' counts and spans."""
    check_entity_access(principal, entity)
    session = uow.session
    rows = session.execute(
        select(
            Project.id,
            Project.name,
            func.count(Run.id),
            func.max(Run.updated_at),
            func.min(Project.created_at),
            Project.description,
        )
        .join(Entity, Project.entity_id == Entity.id)
        .outerjoin(Run, and_(Run.project_id == Project.id, Run.archived_at.is_(None)))
        .where(Entity.name == entity)
        .group_by(Project.id, Project.name, Project.description)
    ).all()
    spans: dict[int, list[RunSpan]] = {}
    for project_id, created, finished, heartbeat in session.execute(
        select(Run.project_id, Run.created_at, Run.finished_at, Run.heartbeat_at)
        .join(Project, Run.project_id == Project.id)
        .join(Entity, Project.entity_id == Entity.id)
        .where(Entity.name == entity, Run.archived_at.is_(None))
    ).all():
        spans.setdefault(project_id, []).append(RunSpan(created, finished, heartbeat))
    return [
        ProjectActivity(name, entity, count, last, created, spans.get(project_id, []), about)
        for project_id, name, count, last, created, about in rows
    ]


def project_metric_keys(uow: UnitOfWork, project: Project) -> list[str]:
    """Every numeric metric logged by any run of a project (one row per key, from rollups)."""
    return list(
        uow.session.scalars(
            select(MetricRollup.key)
            .join(Run, Run.id == MetricRollup.run_id)
            .where(Run.project_id == project.id, MetricRollup.level == rollups.TOP_LEVEL)
            .distinct()
            .order_by(MetricRollup.key)
        )
    )


@dataclass(frozen=True)
class Workspace:
    """A project's runs in creation order and the metrics they logged."""

    runs: list[Run]
    metrics: list[str]


def workspace(uow: UnitOfWork, principal: Principal, entity: str, project: str) -> Workspace:
    """Every run of a project (oldest first) and its metric names, if the caller may read it."""
    proj = accessible_project(uow.session, principal, entity, project)
    runs = list(
        uow.session.scalars(
            # A rewind's archive is read through its run, not drawn with the project's runs.
            select(Run)
            .where(Run.project_id == proj.id, Run.archived_at.is_(None))
            .order_by(Run.created_at, Run.id)
        )
    )
    return Workspace(runs=runs, metrics=project_metric_keys(uow, proj))


def runs_changed_since(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, since: datetime
) -> Workspace:
    """Runs of a project updated after `since` and, when there are any, its metric names."""
    proj = accessible_project(uow.session, principal, entity, project)
    runs = list(
        uow.session.scalars(
            select(Run).where(
                Run.project_id == proj.id, Run.updated_at > since, Run.archived_at.is_(None)
            )
        )
    )
    return Workspace(runs=runs, metrics=project_metric_keys(uow, proj) if runs else [])


def metric_of_runs(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    run_names: list[str],
    keys: list[str],
    buckets: int,
    step_min: int | None = None,
    step_max: int | None = None,
) -> dict[str, dict[str, list[Bucket]]]:
    """Coarse buckets of a few metrics for many runs of a project (what one chart panel draws)."""
    names = run_names[:MAX_RUNS_PER_METRIC_READ]
    proj = accessible_project(uow.session, principal, entity, project)
    ids = dict(
        uow.session.execute(
            select(Run.name, Run.id).where(Run.project_id == proj.id, Run.name.in_(names))
        ).all()
    )
    return {
        name: {
            key: rollups.sampled_series(
                uow.session, rid, key, buckets, step_min, step_max, coarse=True
            )
            for key in keys
        }
        for name, rid in ids.items()
    }


def find_readable_project(
    uow: UnitOfWork, principal: Principal, entity: str, name: str
) -> Project | None:
    """A project by entity and name if the caller may read the entity; None if missing."""
    if registry_access.governs(entity, name):
        # A registry reads by its own roles; missing and hidden answer the same error.
        return registry_access.accessible_registry(uow.session, principal, name)
    check_entity_access(principal, entity)
    return find_project(uow.session, entity, name)


def run_of_project(uow: UnitOfWork, project: Project, name: str) -> Run | None:
    """A run of a project already reached, by its client-chosen name."""
    return find_run(uow.session, project, name)
