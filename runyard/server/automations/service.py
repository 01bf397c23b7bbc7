"""Creating, changing, listing and deleting automations (W&B's filter triggers)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.automations import payloads
from runyard.server.automations.filters import (
    ARTIFACT_EVENTS,
    SUPPORTED_EVENTS,
    FilterError,
    parse_filter,
)
from runyard.server.db.automation_models import Automation, Delivery, DeliveryAttempt, Integration
from runyard.server.db.models import ArtifactCollection, Entity, Project
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.ids import decode_id
from runyard.server.tracking.runs import find_project
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

SCOPE_TYPES = ("PROJECT", "ARTIFACT_COLLECTION")
ACTION_TYPES = ("GENERIC_WEBHOOK", "NOTIFICATION", "NO_OP")
COLLECTION_ID_KINDS = ("ArtifactCollection", "ArtifactSequence", "ArtifactPortfolio")
MAX_NAME_CHARS = 255
MAX_DESCRIPTION_CHARS = 10_000
MAX_PAYLOAD_CHARS = 100_000
MAX_FILTER_CHARS = 20_000


class TriggerInput(BaseModel):
    """W&B's CreateFilterTriggerInput / UpdateFilterTriggerInput (update: all optional)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str | None = None
    name: str | None = None
    description: str | None = None
    enabled: bool | None = None
    scope_type: str | None = Field(None, alias="scopeType")
    scope_id: str | None = Field(None, alias="scopeID")
    event_type: str | None = Field(None, alias="triggeringEventType")
    event_filter: str | None = Field(None, alias="eventFilter")
    action_type: str | None = Field(None, alias="triggeredActionType")
    action_config: dict[str, Any] | None = Field(None, alias="triggeredActionConfig")


@dataclass(frozen=True)
class Scope:
    """Where an automation listens: a project, or one collection of a project."""

    project: Project
    collection: ArtifactCollection | None


def _scope(uow: UnitOfWork, principal: Principal, scope_type: str, scope_id: str) -> Scope:
    if scope_type not in SCOPE_TYPES:
        raise ServiceError(
            ErrorCode.INVALID,
            f"scopeType: {scope_type!r} is not supported; use one of {', '.join(SCOPE_TYPES)}",
        )
    if scope_type == "PROJECT":
        try:
            project = uow.session.get(Project, decode_id("Project", scope_id))
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"scopeID: {exc}") from exc
        if project is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"scopeID: project {scope_id} does not exist")
        require(principal, project.entity.name, Action.WRITE)
        return Scope(project, None)
    collection = None
    for kind in COLLECTION_ID_KINDS:
        try:
            collection = uow.session.get(ArtifactCollection, decode_id(kind, scope_id))
            break
        except ValueError:
            continue
    else:
        raise ServiceError(
            ErrorCode.INVALID, f"scopeID: {scope_id!r} is not an artifact collection id"
        )
    if collection is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"scopeID: artifact collection {scope_id} does not exist; log a version to create "
            "it, or pick an existing collection",
        )
    require(principal, collection.project.entity.name, Action.WRITE)
    return Scope(collection.project, collection)


def _integration(uow: UnitOfWork, node_id: Any, entity_id: int, kind: str) -> Integration:
    field = "triggeredActionConfig.integrationID"
    try:
        integration = uow.session.get(Integration, decode_id("Integration", str(node_id)))
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: {exc}") from exc
    if integration is None or integration.entity_id != entity_id:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"{field}: no integration {node_id} in the automation's entity; list them with "
            "api.integrations()",
        )
    if integration.kind != kind:
        wanted = "a Slack" if kind == "slack" else "a generic webhook"
        raise ServiceError(ErrorCode.INVALID, f"{field}: the action needs {wanted} integration")
    return integration


def _check_variables(where: str, template: Any, event_type: str) -> None:
    unknown = payloads.unknown_variables(template, event_type)
    if unknown:
        known = ", ".join("${" + v + "}" for v in payloads.variables_for(event_type))
        raise ServiceError(
            ErrorCode.INVALID,
            f"{where}: unknown payload variable {', '.join('${' + u + '}' for u in unknown)}; "
            f"a {event_type} event provides {known}",
            details={"unknown": unknown, "known": list(payloads.variables_for(event_type))},
        )


def _action(
    uow: UnitOfWork, action_type: str, config: dict[str, Any], entity_id: int, event_type: str
) -> tuple[dict[str, Any], Integration | None]:
    if action_type not in ACTION_TYPES:
        raise ServiceError(
            ErrorCode.INVALID,
            f"triggeredActionType: {action_type!r} is not supported; use one of "
            f"{', '.join(ACTION_TYPES)}",
        )
    if action_type == "NO_OP":
        return {}, None
    if action_type == "GENERIC_WEBHOOK":
        spec = config.get("genericWebhookActionInput") or {}
        integration = _integration(uow, spec.get("integrationID"), entity_id, "webhook")
        raw = spec.get("requestPayload")
        template = None
        if raw not in (None, ""):
            if len(str(raw)) > MAX_PAYLOAD_CHARS:
                raise ServiceError(
                    ErrorCode.TOO_LARGE,
                    f"requestPayload: over the {MAX_PAYLOAD_CHARS}-character limit",
                )
            try:
                template = json.loads(raw) if isinstance(raw, str) else raw
            except json.JSONDecodeError as exc:
                raise ServiceError(
                    ErrorCode.INVALID, f"requestPayload: not valid JSON ({exc.msg})"
                ) from exc
            if not isinstance(template, dict):
                raise ServiceError(ErrorCode.INVALID, "requestPayload: must be a JSON object")
            _check_variables("requestPayload", template, event_type)
        return {"payload": template}, integration
    spec = config.get("notificationActionInput") or {}
    integration = _integration(uow, spec.get("integrationID"), entity_id, "slack")
    title, message = spec.get("title") or "", spec.get("message") or ""
    severity = (spec.get("severity") or "INFO").upper()
    if severity not in payloads.SEVERITY_COLORS:
        raise ServiceError(ErrorCode.INVALID, f"severity: {severity!r} is not INFO, WARN or ERROR")
    _check_variables("notificationActionInput", [title, message], event_type)
    return {"title": title, "message": message, "severity": severity}, integration


def _check_event(event_type: str, scope_type: str, event_filter: str) -> None:
    if event_type not in SUPPORTED_EVENTS:
        raise ServiceError(
            ErrorCode.INVALID,
            f"triggeringEventType: {event_type!r} is not supported; use one of "
            f"{', '.join(SUPPORTED_EVENTS)}",
        )
    if event_type not in ARTIFACT_EVENTS and scope_type != "PROJECT":
        raise ServiceError(
            ErrorCode.INVALID, f"scopeType: {event_type} automations need a PROJECT scope"
        )
    if len(event_filter) > MAX_FILTER_CHARS:
        raise ServiceError(
            ErrorCode.TOO_LARGE, f"eventFilter: over the {MAX_FILTER_CHARS}-character limit"
        )
    try:
        parse_filter(event_type, event_filter)
    except FilterError as exc:
        raise ServiceError(ErrorCode.INVALID, str(exc)) from exc


def _check_text(name: str, description: str | None) -> None:
    if not name.strip():
        raise ServiceError(ErrorCode.INVALID, "name: an automation needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise ServiceError(ErrorCode.TOO_LARGE, f"name: over the {MAX_NAME_CHARS}-character limit")
    if description and len(description) > MAX_DESCRIPTION_CHARS:
        raise ServiceError(
            ErrorCode.TOO_LARGE, f"description: over the {MAX_DESCRIPTION_CHARS}-character limit"
        )


def _name_taken(uow: UnitOfWork, entity_id: int, name: str, but: int | None = None) -> bool:
    query = select(Automation.id).where(Automation.entity_id == entity_id, Automation.name == name)
    if but is not None:
        query = query.where(Automation.id != but)
    return uow.session.scalar(query) is not None


def _require_fields(data: TriggerInput) -> None:
    missing = [
        alias
        for attr, alias in (
            ("name", "name"),
            ("scope_type", "scopeType"),
            ("scope_id", "scopeID"),
            ("event_type", "triggeringEventType"),
            ("event_filter", "eventFilter"),
            ("action_type", "triggeredActionType"),
        )
        if getattr(data, attr) is None
    ]
    if missing:
        raise ServiceError(ErrorCode.INVALID, f"{', '.join(missing)}: required")


def create_automation(uow: UnitOfWork, principal: Principal, data: TriggerInput) -> Automation:
    """Save a new automation (members who may write to the scope's entity)."""
    _require_fields(data)
    assert data.name is not None and data.scope_type and data.scope_id and data.event_type
    assert data.event_filter is not None and data.action_type
    scope = _scope(uow, principal, data.scope_type, data.scope_id)
    _check_text(data.name, data.description)
    _check_event(data.event_type, data.scope_type, data.event_filter)
    entity_id = scope.project.entity_id
    config, integration = _action(
        uow, data.action_type, data.action_config or {}, entity_id, data.event_type
    )
    if _name_taken(uow, entity_id, data.name):
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"name: an automation named {data.name!r} already exists in "
            f"{scope.project.entity.name}; choose another name or update that one",
        )
    now = uow.now()
    row = Automation(
        entity_id=entity_id,
        project_id=scope.project.id,
        collection_id=scope.collection.id if scope.collection else None,
        scope_type=data.scope_type,
        name=data.name,
        description=data.description,
        enabled=True if data.enabled is None else data.enabled,
        event_type=data.event_type,
        event_filter=data.event_filter,
        action_type=data.action_type,
        action_config=config,
        integration_id=integration.id if integration else None,
        created_by=principal.username,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(row)
    uow.session.flush()
    logger.info(
        "automation created",
        extra={"automation": row.id, "event_type": row.event_type, "action": row.action_type},
    )
    return row


def automation_by_id(
    uow: UnitOfWork, principal: Principal, node_id: str, action: Action = Action.READ
) -> Automation:
    """An automation by its node id, if the caller may do `action` in its entity."""
    try:
        row = uow.session.get(Automation, decode_id("Trigger", node_id))
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"id: {exc}") from exc
    if row is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"id: automation {node_id} does not exist")
    require(principal, row.project.entity.name, action)
    return row


def update_automation(uow: UnitOfWork, principal: Principal, data: TriggerInput) -> Automation:
    """Change the fields given of an automation."""
    if not data.id:
        raise ServiceError(ErrorCode.INVALID, "id: required")
    row = automation_by_id(uow, principal, data.id, Action.WRITE)
    scope_type = data.scope_type or row.scope_type
    if data.scope_id is not None:
        scope = _scope(uow, principal, scope_type, data.scope_id)
        if scope.project.entity_id != row.entity_id:
            raise ServiceError(ErrorCode.INVALID, "scopeID: cannot move to another entity")
        row.project_id = scope.project.id
        row.collection_id = scope.collection.id if scope.collection else None
        row.scope_type = scope_type
    name = data.name if data.name is not None else row.name
    description = data.description if data.description is not None else row.description
    _check_text(name, description)
    event_type = data.event_type or row.event_type
    event_filter = data.event_filter if data.event_filter is not None else row.event_filter
    _check_event(event_type, row.scope_type, event_filter)
    if (
        data.action_type is not None
        or data.action_config is not None
        or event_type != row.event_type
    ):
        action_type = data.action_type or row.action_type
        if data.action_config is not None:
            config, integration = _action(
                uow, action_type, data.action_config, row.entity_id, event_type
            )
            row.action_config = config
            row.integration_id = integration.id if integration else None
        row.action_type = action_type
    if _name_taken(uow, row.entity_id, name, but=row.id):
        raise ServiceError(ErrorCode.CONFLICT, f"name: an automation named {name!r} exists")
    row.name, row.description = name, description
    row.event_type, row.event_filter = event_type, event_filter
    if data.enabled is not None:
        row.enabled = data.enabled
    row.updated_at = uow.now()
    uow.session.flush()
    return row


def delete_automation(uow: UnitOfWork, principal: Principal, node_id: str) -> None:
    """Delete an automation; its delivery log stays."""
    row = automation_by_id(uow, principal, node_id, Action.WRITE)
    uow.session.delete(row)
    uow.session.flush()
    logger.info("automation deleted", extra={"automation": row.id})


def automations_of_project(uow: UnitOfWork, project: Project) -> list[Automation]:
    """A project's automations (its own and its collections'), oldest first."""
    return list(
        uow.session.scalars(
            select(Automation).where(Automation.project_id == project.id).order_by(Automation.id)
        )
    )


def collection_of(uow: UnitOfWork, automation: Automation) -> ArtifactCollection | None:
    """The collection an automation listens to (None for project scopes)."""
    if automation.collection_id is None:
        return None
    return uow.session.get(ArtifactCollection, automation.collection_id)


def project_named(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, action: Action = Action.READ
) -> Project:
    """A project the caller may use."""
    require(principal, entity, action)
    row = find_project(uow.session, entity, project)
    if row is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"project {entity}/{project} does not exist")
    return row


@dataclass(frozen=True)
class DeliveryView:
    """A delivery with its tries, for the delivery log."""

    delivery: Delivery
    automation_name: str
    attempts: list[DeliveryAttempt]

    @property
    def event_type(self) -> str:
        """The type of the event delivered."""
        return self.delivery.event.event_type

    @property
    def body(self) -> Any:
        """The JSON body sent."""
        return json.loads(self.delivery.body)


def deliveries_of_project(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, limit: int = 100
) -> tuple[list[Automation], list[DeliveryView]]:
    """A project's automations and its latest deliveries (newest first) with their tries."""
    row = project_named(uow, principal, entity, project)
    automations = automations_of_project(uow, row)
    names = {a.id: a.name for a in automations}
    deliveries = list(
        uow.session.scalars(
            select(Delivery)
            .where(Delivery.project_id == row.id)
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )
    tries: dict[int, list[DeliveryAttempt]] = {d.id: [] for d in deliveries}
    if deliveries:
        for attempt in uow.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(list(tries)))
            .order_by(DeliveryAttempt.id)
        ):
            tries[attempt.delivery_id].append(attempt)
    views = [
        DeliveryView(
            d,
            names.get(
                d.automation_id or 0, "run alert" if d.automation_id is None else "(deleted)"
            ),
            tries[d.id],
        )
        for d in deliveries
    ]
    return automations, views


def projects_of_member(
    uow: UnitOfWork, principal: Principal, *, after_id: int = 0, limit: int = 50
) -> tuple[list[Project], bool]:
    """Projects of the caller's own entity and its teams, oldest first; and whether more follow."""
    if not 1 <= limit <= 1000:
        raise ServiceError(ErrorCode.INVALID, f"first: {limit} is out of range 1..1000")
    names = {principal.entity_name, *principal.roles}
    rows = list(
        uow.session.scalars(
            select(Project)
            .join(Entity, Entity.id == Project.entity_id)
            .where(Entity.name.in_(sorted(names)), Project.id > after_id)
            .order_by(Project.id)
            .limit(limit + 1)
        )
    )
    return rows[:limit], len(rows) > limit
