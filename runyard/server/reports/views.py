"""Saved views (reports and saved workspaces): upsert with revisions, read, list, delete."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import func, select

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import Entity, Project, View, ViewRevision
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.reports.spec import parse_spec
from runyard.server.tracking.access import accessible_project, check_entity_access
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.unit_of_work import UnitOfWork

# `runs` is a published report, `runs/draft` its draft; saved workspaces use other types.
REPORT_TYPES = ("runs", "runs/draft")
MAX_NAME = 128
MAX_DISPLAY_NAME = 256
MAX_DESCRIPTION = 64 * 1024
MAX_TYPE = 64


@dataclass(frozen=True)
class ViewInput:
    """What `upsertView` carries (W&B's UpsertViewInput)."""

    id: str | None
    entity_name: str | None
    project_name: str | None
    name: str | None
    display_name: str | None
    description: str | None
    type: str | None
    spec: str


def _invalid(message: str, field: str) -> ServiceError:
    return ServiceError(ErrorCode.INVALID, message, details={"field": field})


def refuse(message: str, field: str) -> NoReturn:
    """Raise the INVALID error naming `field`."""
    raise _invalid(message, field)


def _check_length(value: str | None, limit: int, field: str) -> None:
    if value is not None and len(value) > limit:
        raise _invalid(f"{field}: at most {limit} characters (got {len(value)})", field)


def view_pk(node_id: str) -> int:
    """A view's primary key from its node id, refused with the id when it is not a view's."""
    try:
        return decode_id("View", node_id)
    except ValueError as exc:
        raise _invalid(f"id: {exc}; pass the id a saved report returned", "id") from exc


def node_id(view: View) -> str:
    """A view's node id, as its URL and the clients carry it."""
    return encode_id("View", view.id)


def _find(uow: UnitOfWork, principal: Principal, node_id: str, action: Action) -> View:
    view = uow.session.get(View, view_pk(node_id))
    missing = ServiceError(
        ErrorCode.NOT_FOUND,
        f"view {node_id} does not exist or you are not a member of its entity",
    )
    if view is None:
        raise missing
    check_entity_access(principal, view.project.entity.name, action)
    return view


def get_view(uow: UnitOfWork, principal: Principal, node_id: str) -> View | None:
    """A view the caller may read by node id; None when missing or unreadable."""
    try:
        return _find(uow, principal, node_id, Action.READ)
    except ServiceError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            return None
        raise


def read_view(uow: UnitOfWork, principal: Principal, node_id: str) -> View:
    """A view the caller may read, or a NOT_FOUND error naming it."""
    return _find(uow, principal, node_id, Action.READ)


def _target_project(uow: UnitOfWork, principal: Principal, given: ViewInput) -> Project:
    entity = given.entity_name or principal.entity_name
    if not given.project_name:
        raise _invalid("projectName: required for a new view; name the report's project", "id")
    return accessible_project(uow.session, principal, entity, given.project_name, Action.WRITE)


def upsert_view(uow: UnitOfWork, principal: Principal, given: ViewInput) -> tuple[View, bool]:
    """Create a view or save a new revision of one; the spec is checked before any write."""
    _check_length(given.name, MAX_NAME, "name")
    _check_length(given.display_name, MAX_DISPLAY_NAME, "displayName")
    _check_length(given.description, MAX_DESCRIPTION, "description")
    _check_length(given.type, MAX_TYPE, "type")
    if not given.spec:
        raise _invalid("spec: required; pass the view's spec as a JSON string", "spec")
    doc = parse_spec(given.spec)
    spec = json.dumps(doc, separators=(",", ":"))
    now = uow.now()
    session = uow.session
    if given.id:
        view = _find(uow, principal, given.id, Action.WRITE)
        inserted = False
        view.revision += 1
        if given.name:
            view.name = given.name
        if given.display_name is not None:
            view.display_name = given.display_name
        if given.description is not None:
            view.description = given.description
        if given.type:
            view.type = given.type
        view.spec = spec
        view.updated_at = now
    else:
        project = _target_project(uow, principal, given)
        view = View(
            project_id=project.id,
            project=project,
            name=given.name or f"view-{int(now.timestamp() * 1000)}",
            display_name=given.display_name or "",
            description=given.description or "",
            type=given.type or "runs",
            spec=spec,
            revision=1,
            user_id=principal.user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(view)
        session.flush()
        inserted = True
    session.add(
        ViewRevision(
            view_id=view.id,
            revision=view.revision,
            display_name=view.display_name,
            description=view.description,
            spec=spec,
            user_id=principal.user_id,
            created_at=now,
        )
    )
    session.flush()
    return view, inserted


def delete_view(uow: UnitOfWork, principal: Principal, node_id: str) -> None:
    """Delete a view and its revisions (and, as W&B does, drafts go with it)."""
    view = _find(uow, principal, node_id, Action.WRITE)
    uow.session.delete(view)
    uow.session.flush()


@dataclass(frozen=True)
class ViewPage:
    """One page of a project's views, newest first."""

    views: list[View]
    has_next: bool


def list_views(
    uow: UnitOfWork,
    project: Project,
    view_type: str | None,
    view_name: str | None,
    first: int,
    after_pk: int | None,
) -> ViewPage:
    """A project's views of a type (and name), newest id first, after a view id."""
    query = select(View).where(View.project_id == project.id)
    if view_type:
        query = query.where(View.type == view_type)
    if view_name:
        query = query.where(View.name == view_name)
    if after_pk is not None:
        query = query.where(View.id < after_pk)
    rows = list(uow.session.scalars(query.order_by(View.id.desc()).limit(first + 1)))
    return ViewPage(views=rows[:first], has_next=len(rows) > first)


def revision_count(uow: UnitOfWork, view: View) -> int:
    """How many revisions a view has saved."""
    return int(
        uow.session.scalar(
            select(func.count()).select_from(ViewRevision).where(ViewRevision.view_id == view.id)
        )
        or 0
    )


def project_reports(
    uow: UnitOfWork, principal: Principal, entity: str, project: str
) -> tuple[Project, list[View]]:
    """A readable project's published reports, newest first (the reports list page)."""
    proj = accessible_project(uow.session, principal, entity, project)
    rows = uow.session.scalars(
        select(View)
        .where(View.project_id == proj.id, View.type == "runs")
        .order_by(View.updated_at.desc(), View.id.desc())
    )
    return proj, list(rows)


def entity_of(view: View) -> Entity:
    """The entity owning a view's project."""
    return view.project.entity
