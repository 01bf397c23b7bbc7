"""Lookups of projects and runs that apply the access rule (`runyard.server.access`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.db.models import Project, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.registry import access as registry_access
from runyard.server.tracking.runs import find_project, find_run


def check_entity_access(
    principal: Principal, entity_name: str, action: Action = Action.READ
) -> None:
    """Raise a ServiceError unless the caller may do `action` on the entity's contents."""
    require(principal, entity_name, action)


def accessible_project(
    session: Session,
    principal: Principal,
    entity_name: str,
    project_name: str,
    action: Action = Action.READ,
) -> Project:
    """Return an existing project the caller may use, or raise a 404/403 ServiceError."""
    if registry_access.governs(entity_name, project_name):
        return registry_access.accessible_registry(session, principal, project_name, action)
    require(principal, entity_name, action)
    project = find_project(session, entity_name, project_name)
    if project is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"project {entity_name}/{project_name} does not exist"
        )
    return project


def accessible_run(
    session: Session,
    principal: Principal,
    entity_name: str,
    project_name: str,
    run_name: str,
    action: Action = Action.READ,
) -> Run:
    """Return an existing run the caller may use, or raise a 404/403 ServiceError."""
    project = accessible_project(session, principal, entity_name, project_name, action)
    run = find_run(session, project, run_name)
    if run is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"run {entity_name}/{project_name}/{run_name} does not exist: start it with "
            "wandb.init() first",
        )
    return run
