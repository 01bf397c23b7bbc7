"""Read-only share links of reports: an access token opens one report and draws the runs of
the projects it names, for anyone holding it (W&B's "anyone with the link can view")."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import Project, Run, View, ViewAccessToken
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.reports import views
from runyard.server.tracking import rollups
from runyard.server.tracking.access import accessible_project, check_entity_access
from runyard.server.tracking.rollups import Bucket
from runyard.server.tracking.runs import find_project
from runyard.server.unit_of_work import UnitOfWork

MAX_PROJECTS = 100
MAX_TOKEN = 64
# As many runs as a panel of the workspace reads at once.
MAX_RUNS_PER_READ = 500


def _no_link() -> ServiceError:
    return ServiceError(
        ErrorCode.NOT_FOUND, "share link does not exist or was revoked; ask for a new link"
    )


def _projects(
    uow: UnitOfWork, principal: Principal, view: View, given: list[dict[str, Any]]
) -> list[list[str]]:
    """The projects a link may draw: each one the caller may read, the report's own always."""
    if len(given) > MAX_PROJECTS:
        raise ServiceError(ErrorCode.INVALID, f"projects: at most {MAX_PROJECTS} per link")
    wanted = [[view.project.entity.name, view.project.name]]
    for i, spec in enumerate(given):
        entity, name = spec.get("entityName"), spec.get("projectName")
        if not entity or not name:
            raise ServiceError(
                ErrorCode.INVALID, f"projects[{i}]: give both entityName and projectName"
            )
        accessible_project(uow.session, principal, entity, name)
        if [entity, name] not in wanted:
            wanted.append([entity, name])
    return wanted


def create_token(
    uow: UnitOfWork, principal: Principal, view_node: str, projects: list[dict[str, Any]]
) -> ViewAccessToken:
    """A new share link of a report the caller may edit."""
    view = views.read_view(uow, principal, view_node)
    check_entity_access(principal, view.project.entity.name, Action.WRITE)
    row = ViewAccessToken(
        view_id=view.id,
        view=view,
        token=secrets.token_urlsafe(24),
        projects=_projects(uow, principal, view, projects),
        user_id=principal.user_id,
        created_at=uow.now(),
    )
    uow.session.add(row)
    uow.session.flush()
    return row


def _managed(uow: UnitOfWork, principal: Principal, token: str) -> ViewAccessToken:
    if len(token) > MAX_TOKEN:
        raise _no_link()
    row = uow.session.scalars(select(ViewAccessToken).where(ViewAccessToken.token == token)).first()
    if row is None:
        raise _no_link()
    check_entity_access(principal, row.view.project.entity.name, Action.WRITE)
    return row


def update_projects(
    uow: UnitOfWork, principal: Principal, token: str, projects: list[dict[str, Any]]
) -> None:
    """Change which projects a link draws."""
    row = _managed(uow, principal, token)
    row.projects = _projects(uow, principal, row.view, projects)
    uow.session.flush()


def revoke(uow: UnitOfWork, principal: Principal, token: str) -> None:
    """End a link: it opens nothing from now on."""
    row = _managed(uow, principal, token)
    if row.revoked_at is None:
        row.revoked_at = uow.now()
    uow.session.flush()


def tokens_of(uow: UnitOfWork, view: View) -> list[ViewAccessToken]:
    """A view's links, oldest first (revoked ones too, with their revokedAt)."""
    return list(
        uow.session.scalars(
            select(ViewAccessToken)
            .where(ViewAccessToken.view_id == view.id)
            .order_by(ViewAccessToken.id)
        )
    )


def token_projects(uow: UnitOfWork, row: ViewAccessToken) -> list[Project]:
    """The projects a link draws that still exist."""
    found = (find_project(uow.session, e, p) for e, p in row.projects)
    return [p for p in found if p is not None]


def active(uow: UnitOfWork, token: str) -> ViewAccessToken:
    """The live link with this token, or NOT_FOUND."""
    if not token or len(token) > MAX_TOKEN:
        raise _no_link()
    row = uow.session.scalars(
        select(ViewAccessToken).where(
            ViewAccessToken.token == token, ViewAccessToken.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        raise _no_link()
    return row


def shared_project(uow: UnitOfWork, token: str, entity: str, project: str) -> Project:
    """A project a live link may draw, or NOT_FOUND."""
    row = active(uow, token)
    found = find_project(uow.session, entity, project)
    if [entity, project] not in row.projects or found is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"project {entity}/{project} is not shared by this link"
        )
    return found


def shared_metric(
    uow: UnitOfWork,
    token: str,
    entity: str,
    project: str,
    run_names: list[str],
    keys: list[str],
    buckets: int,
) -> dict[str, dict[str, list[Bucket]]]:
    """What one panel of a shared report draws: sampled buckets of its metrics per run."""
    proj = shared_project(uow, token, entity, project)
    names = run_names[:MAX_RUNS_PER_READ]
    ids = dict(
        uow.session.execute(
            select(Run.name, Run.id).where(Run.project_id == proj.id, Run.name.in_(names))
        ).all()
    )
    return {
        name: {
            key: rollups.sampled_series(uow.session, rid, key, buckets, None, None, coarse=True)
            for key in keys
        }
        for name, rid in ids.items()
    }
