"""Who may read and write which runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from runyard.server.auth import Principal
from runyard.server.db.models import Project, Run
from runyard.server.tracking.runs import TrackingError, find_project, find_run


def check_entity_access(principal: Principal, entity_name: str) -> None:
    """Raise a 403 TrackingError unless the caller owns the entity or is an admin."""
    if entity_name != principal.entity_name and not principal.is_admin:
        raise TrackingError(
            f"permission denied on entity {entity_name!r}: your entity is "
            f"{principal.entity_name!r}",
            status=403,
        )


def accessible_project(
    session: Session, principal: Principal, entity_name: str, project_name: str
) -> Project:
    """Return an existing project the caller may use, or raise a 404/403 TrackingError."""
    check_entity_access(principal, entity_name)
    project = find_project(session, entity_name, project_name)
    if project is None:
        raise TrackingError(f"project {entity_name}/{project_name} does not exist", status=404)
    return project


def accessible_run(
    session: Session, principal: Principal, entity_name: str, project_name: str, run_name: str
) -> Run:
    """Return an existing run the caller may use, or raise a 404/403 TrackingError."""
    project = accessible_project(session, principal, entity_name, project_name)
    run = find_run(session, project, run_name)
    if run is None:
        raise TrackingError(
            f"run {entity_name}/{project_name}/{run_name} does not exist: start it with "
            "wandb.init() first",
            status=404,
        )
    return run
