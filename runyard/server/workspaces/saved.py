"""Saved workspace views: each user's own named layouts of a project, private to that user."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from runyard.server.auth import Principal
from runyard.server.clock import utcnow
from runyard.server.db.models import WorkspaceView
from runyard.server.tracking.access import accessible_project
from runyard.server.unit_of_work import UnitOfWork
from runyard.server.workspaces.layout import WorkspaceLayout, check_view_name, parse_layout

MAX_VIEWS_PER_USER = 200


@dataclass(frozen=True)
class SavedView:
    """A saved view as its owner reads it."""

    name: str
    layout: WorkspaceLayout
    updated_at: datetime


def _out(row: WorkspaceView) -> SavedView:
    return SavedView(
        name=row.name,
        layout=WorkspaceLayout.model_validate(json.loads(row.layout)),
        updated_at=row.updated_at,
    )


def list_views(uow: UnitOfWork, principal: Principal, entity: str, project: str) -> list[SavedView]:
    """The caller's own saved views of a readable project, by name (nobody else's)."""
    proj = accessible_project(uow.session, principal, entity, project)
    rows = uow.session.scalars(
        select(WorkspaceView)
        .where(WorkspaceView.project_id == proj.id, WorkspaceView.user_id == principal.user_id)
        .order_by(WorkspaceView.name)
        .limit(MAX_VIEWS_PER_USER)
    )
    return [_out(r) for r in rows]


def save_view(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str, raw: object
) -> SavedView:
    """Create or replace the caller's view `name`; a bad layout is refused naming the field."""
    cleaned = check_view_name(name)
    layout = parse_layout(raw)
    proj = accessible_project(uow.session, principal, entity, project)
    row = uow.session.scalars(
        select(WorkspaceView).where(
            WorkspaceView.project_id == proj.id,
            WorkspaceView.user_id == principal.user_id,
            WorkspaceView.name == cleaned,
        )
    ).first()
    now = utcnow()
    text = layout.model_dump_json()
    if row is None:
        row = WorkspaceView(
            project_id=proj.id,
            user_id=principal.user_id,
            name=cleaned,
            layout=text,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(row)
    else:
        row.layout, row.updated_at = text, now
    uow.session.flush()
    return _out(row)


def delete_view(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str
) -> bool:
    """Delete the caller's own view `name`; False when there was none (deleting is idempotent)."""
    proj = accessible_project(uow.session, principal, entity, project)
    result = uow.session.execute(
        delete(WorkspaceView).where(
            WorkspaceView.project_id == proj.id,
            WorkspaceView.user_id == principal.user_id,
            WorkspaceView.name == name.strip(),
        )
    )
    return bool(getattr(result, "rowcount", 0))
