"""Artifacts seen from a run or a type: what a run logged and used (`run.logged_artifacts()`,
`run.used_artifacts()`), and a project's collections of one type with their versions (what
`wandb job list` / `wandb.Api().list_jobs` read: jobs are artifacts of type `job`).

Pages are keyset pages over node ids, oldest first for a run's artifacts (the order they
were logged) and newest first for a collection's versions (as W&B lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from runyard.server.access import Action, allows
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactCollection, ArtifactUse, Project, Run
from runyard.server.db.registry_models import Registry
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.ids import decode_id
from runyard.server.unit_of_work import UnitOfWork

MAX_PAGE = 1000
DEFAULT_PAGE = 50
COMMITTED = "COMMITTED"

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, whether more follow, and how many there are in all."""

    rows: list[T]
    has_next: bool
    total: int


@dataclass(frozen=True)
class TypeInProject:
    """An artifact type as seen in one project (`Project.artifactType(name:)`)."""

    project: Project
    name: str


def page_size(first: int | None, field: str = "first") -> int:
    """The page size asked for, or a clear error when it is outside 1..MAX_PAGE."""
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise ServiceError(
            ErrorCode.INVALID, f"{field}: {first} is out of range: ask for 1 to {MAX_PAGE} items"
        )
    return first


def cursor_id(kind: str, after: str | None) -> int | None:
    """The row id a cursor names (None for the first page); bad cursors name the argument."""
    if not after:
        return None
    try:
        return decode_id(kind, after)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"after: {exc}") from exc


def _page(
    uow: UnitOfWork,
    query: Select[Artifact],
    key: ColumnElement[Any] | InstrumentedAttribute[int],
    size: int,
    total: int,
) -> Page[Artifact]:
    rows = list(uow.session.scalars(query.order_by(key).limit(size + 1)))
    return Page(rows[:size], len(rows) > size, total)


def _count(uow: UnitOfWork, query: Select[Artifact]) -> int:
    return uow.session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _readable(principal: Principal, artifact: Artifact) -> bool:
    return allows(principal, artifact.collection.project.entity.name, Action.READ)


def logged_by(uow: UnitOfWork, run: Run, after: str | None, first: int | None) -> Page[Artifact]:
    """The committed versions the run logged (created), in the order it logged them."""
    size = page_size(first)
    start = cursor_id("Artifact", after)
    base = select(Artifact).where(Artifact.created_by_run_id == run.id, Artifact.state == COMMITTED)
    query = base if start is None else base.where(Artifact.id > start)
    # The run was read through its project, so its entity is readable; so are its artifacts.
    return _page(uow, query, Artifact.id, size, _count(uow, base))


def used_by(
    uow: UnitOfWork, principal: Principal, run: Run, after: str | None, first: int | None
) -> Page[Artifact]:
    """The committed versions the run declared as inputs, in the order it used them; versions
    of entities the caller may not read are left out (a run can use another team's data)."""
    size = page_size(first)
    start = cursor_id("Artifact", after)
    base = (
        select(Artifact)
        .join(ArtifactUse, ArtifactUse.artifact_id == Artifact.id)
        .where(ArtifactUse.run_id == run.id, Artifact.state == COMMITTED)
    )
    query = base if start is None else base.where(Artifact.id > start)
    page = _page(uow, query, Artifact.id, size, _count(uow, base))
    visible = [a for a in page.rows if _readable(principal, a)]
    return Page(visible, page.has_next, page.total - (len(page.rows) - len(visible)))


def type_in_project(uow: UnitOfWork, project: Project, name: str) -> TypeInProject | None:
    """The artifact type `name` if the project holds a collection of it; null otherwise
    (W&B answers null for a type a project never used)."""
    found = uow.session.scalar(
        select(ArtifactCollection.id)
        .where(ArtifactCollection.project_id == project.id, ArtifactCollection.type_name == name)
        .limit(1)
    )
    return TypeInProject(project, name) if found is not None else None


def types_in_project(uow: UnitOfWork, project: Project) -> list[TypeInProject]:
    """Every artifact type the project holds a collection of, by name (for a registry, also
    the types it accepts)."""
    names = set(
        uow.session.scalars(
            select(ArtifactCollection.type_name)
            .where(ArtifactCollection.project_id == project.id)
            .distinct()
        )
    )
    registry = uow.session.get(Registry, project.id)
    if registry is not None:
        names.update(registry.artifact_types or [])
    return [TypeInProject(project, name) for name in sorted(names)]


def collections_of_type(
    uow: UnitOfWork, kind: TypeInProject, after: str | None, first: int | None
) -> Page[ArtifactCollection]:
    """The project's collections of the type, oldest first."""
    size = page_size(first)
    start = cursor_id("ArtifactCollection", after)
    base = select(ArtifactCollection).where(
        ArtifactCollection.project_id == kind.project.id,
        ArtifactCollection.type_name == kind.name,
    )
    query = base if start is None else base.where(ArtifactCollection.id > start)
    total = uow.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = list(uow.session.scalars(query.order_by(ArtifactCollection.id).limit(size + 1)))
    return Page(rows[:size], len(rows) > size, total)


def versions_of(
    uow: UnitOfWork, collection: ArtifactCollection, after: str | None, first: int | None
) -> Page[Artifact]:
    """The collection's committed versions, newest first."""
    size = page_size(first)
    start = cursor_id("Artifact", after)
    base = select(Artifact).where(
        Artifact.collection_id == collection.id, Artifact.state == COMMITTED
    )
    query = base if start is None else base.where(Artifact.id < start)
    return _page(uow, query, Artifact.id.desc(), size, _count(uow, base))
