"""Run search: a project's runs filtered and ordered like W&B, one page at a time.

The one implementation behind GraphQL's `Project.runs`/`runCount`, REST's `/api/v1/runs`
and the UI's runs table and workspace.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import Project, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.access import accessible_project
from runyard.server.tracking.filters import FilterError, compile_filter, compile_order, parse_filter
from runyard.server.unit_of_work import UnitOfWork

MAX_PAGE = 1000


@dataclass(frozen=True)
class RunQuery:
    """Which runs, in which order, and which page of them."""

    filters: str | None = None
    """A W&B MongoDB-style filter as JSON text; None or blank: every run."""
    order: str | None = None
    """e.g. `-created_at` or `+config.lr,-summary_metrics.loss`; None: newest first."""
    offset: int = 0
    limit: int = 50
    with_total: bool = False
    """Also count every matching run (one more query)."""


@dataclass(frozen=True)
class RunPage:
    """A page of runs, whether more follow, and (when asked) how many match in all."""

    runs: list[Run]
    offset: int
    has_more: bool
    total: int | None = None


def _where(project: Project, filters: str | None, dialect: str) -> tuple[ColumnElement[bool], ...]:
    try:
        # parse_filter refuses JSON too deep for json.loads and lists over the limits.
        document = parse_filter(filters.strip() if filters else None)
        # A rewind's archive is read through its run, never listed with the live runs.
        return (
            Run.project_id == project.id,
            Run.archived_at.is_(None),
            compile_filter(document, dialect),
        )
    except FilterError as exc:
        raise ServiceError(ErrorCode.INVALID, f"invalid filter: {exc}") from exc


def _project(
    uow: UnitOfWork, principal: Principal, entity: str | Project, project: str | None
) -> Project:
    if isinstance(entity, Project):
        # Already looked up (a GraphQL Project node): the access rule still decides.
        return accessible_project(uow.session, principal, entity.entity.name, entity.name)
    assert project is not None
    return accessible_project(uow.session, principal, entity, project, Action.READ)


def search_runs(
    uow: UnitOfWork,
    principal: Principal,
    entity: str | Project,
    project: str | None,
    query: RunQuery,
) -> RunPage:
    """A page of the runs of `entity/project` that match `query`, if the caller may read them.

    `entity` may be a Project already found (then `project` is None).
    """
    proj = _project(uow, principal, entity, project)
    where = _where(proj, query.filters, uow.dialect)
    try:
        ordering = compile_order(query.order, uow.dialect)
    except FilterError as exc:
        raise ServiceError(ErrorCode.INVALID, f"invalid order: {exc}") from exc
    total = _count(uow, where) if query.with_total else None
    limit = max(0, min(query.limit, MAX_PAGE))
    rows = list(
        uow.session.scalars(
            select(Run)
            .where(*where)
            .order_by(*ordering)
            .offset(max(0, query.offset))
            .limit(limit + 1)
        )
    )
    return RunPage(runs=rows[:limit], offset=query.offset, has_more=len(rows) > limit, total=total)


def count_runs(
    uow: UnitOfWork,
    principal: Principal,
    entity: str | Project,
    project: str | None,
    filters: str | None = None,
) -> int:
    """How many runs of `entity/project` match `filters`."""
    proj = _project(uow, principal, entity, project)
    return _count(uow, _where(proj, filters, uow.dialect))


def _count(uow: UnitOfWork, where: tuple[ColumnElement[bool], ...]) -> int:
    return uow.session.scalar(select(func.count()).select_from(Run).where(*where)) or 0
