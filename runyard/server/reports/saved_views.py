"""Saved workspace views (`wandb_workspaces.workspaces.Workspace.save()`): the view a
workspace URL's `?nw=<id>` names, as the sections and metrics its page lays out."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from runyard.server.auth import Principal
from runyard.server.db.models import View
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.access import accessible_project
from runyard.server.unit_of_work import UnitOfWork

WORKSPACE_VIEW_TYPE = "project-view"


def view_sections(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A workspace spec's panel sections as `{name, metrics}` (line plots' metrics, in order)."""
    section = spec.get("section") or {}
    bank = section.get("panelBankConfig") or {}
    out: list[dict[str, Any]] = []
    for item in bank.get("sections") or []:
        metrics: list[str] = []
        for panel in item.get("panels") or []:
            config = panel.get("config") or {}
            for key in config.get("metrics") or []:
                if isinstance(key, str) and key not in metrics:
                    metrics.append(key)
        out.append({"name": str(item.get("name") or "Charts"), "metrics": metrics})
    return out


def saved_view(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, nw: str
) -> dict[str, Any]:
    """The saved view `nw` of a readable project: its name and sections; NOT_FOUND if none."""
    proj = accessible_project(uow.session, principal, entity, project)
    view = uow.session.scalars(
        select(View).where(
            View.project_id == proj.id,
            View.type == WORKSPACE_VIEW_TYPE,
            View.name.in_([f"nw-{nw}-v", nw]),
        )
    ).first()
    if view is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"saved view nw={nw} does not exist in {entity}/{project}; "
            f"the workspace without it is at /{entity}/{project}",
        )
    return {
        "name": view.display_name or view.name,
        "sections": view_sections(json.loads(view.spec)),
    }
