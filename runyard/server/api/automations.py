"""`/api/v1/entities/{entity}/secrets|integrations` and `/api/v1/projects/.../automations`:
team secrets, integrations and the automations' delivery log over REST (the CLI and UI)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from runyard.server.api.models import as_utc
from runyard.server.automations import integrations, secrets, service
from runyard.server.deps import PrincipalDep, UowDep
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:  # adapters see rows only through the services' answers
    from runyard.server.db.automation_models import Automation, Integration

router = APIRouter(prefix="/api/v1", tags=["automations"])


class SecretIn(BaseModel):
    """A new team secret; its value is never shown again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Letters, digits, '_' and '-'; starts with a letter or '_'.")
    value: str = Field(repr=False)


class SecretOut(BaseModel):
    """A team secret's name (never its value)."""

    name: str
    created_at: datetime


class IntegrationIn(BaseModel):
    """A new integration: a generic webhook, or a Slack-compatible incoming webhook."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="`webhook` or `slack`.")
    name: str
    url: str = Field(description="The http(s) URL to POST to.")
    secret_name: str | None = Field(None, description="Team secret signing each body.")
    access_token_name: str | None = Field(None, description="Team secret sent as bearer token.")
    channel_name: str = ""
    team_name: str = ""


class IntegrationOut(BaseModel):
    """An integration (secret names only)."""

    id: str
    kind: str
    name: str
    url: str
    secret_name: str | None
    access_token_name: str | None
    channel_name: str
    created_at: datetime

    @classmethod
    def of(cls, row: Integration) -> IntegrationOut:
        """The API view of an integration row."""
        return cls(
            id=encode_id("Integration", row.id),
            kind=row.kind,
            name=row.name,
            url=row.url,
            secret_name=row.secret_name,
            access_token_name=row.access_token_name,
            channel_name=row.channel_name,
            created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        )


class AttemptOut(BaseModel):
    """One try of a delivery."""

    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response: str
    error: str | None


class DeliveryOut(BaseModel):
    """One event to one action, with its tries."""

    id: int
    automation: str
    event_type: str
    kind: str
    url: str
    state: str = Field(description="pending, sending, succeeded or failed.")
    attempts: list[AttemptOut]
    body: Any
    created_at: datetime
    finished_at: datetime | None


class AutomationOut(BaseModel):
    """An automation of the project."""

    id: str
    name: str
    enabled: bool
    event_type: str
    action_type: str
    integration: str | None

    @classmethod
    def of(cls, row: Automation) -> AutomationOut:
        """The API view of an automation row."""
        return cls(
            id=encode_id("Trigger", row.id),
            name=row.name,
            enabled=row.enabled,
            event_type=row.event_type,
            action_type=row.action_type,
            integration=row.integration.name if row.integration else None,
        )


class AutomationsOut(BaseModel):
    """A project's automations and its latest deliveries, newest first."""

    automations: list[AutomationOut]
    deliveries: list[DeliveryOut]


@router.get("/entities/{entity}/secrets", response_model=list[SecretOut])
def get_secrets(uow: UowDep, principal: PrincipalDep, entity: str) -> list[SecretOut]:
    """The names of the entity's team secrets."""
    return [
        SecretOut(name=s.name, created_at=as_utc(s.created_at))  # type: ignore[arg-type]
        for s in secrets.list_secrets(uow, principal, entity)
    ]


@router.post("/entities/{entity}/secrets", status_code=201, response_model=SecretOut)
def post_secret(uow: UowDep, principal: PrincipalDep, entity: str, body: SecretIn) -> SecretOut:
    """Store a team secret (entity admins)."""
    view = secrets.create_secret(uow, principal, entity, body.name, body.value)
    return SecretOut(name=view.name, created_at=as_utc(view.created_at))  # type: ignore[arg-type]


@router.delete("/entities/{entity}/secrets/{name}", status_code=204)
def delete_secret(uow: UowDep, principal: PrincipalDep, entity: str, name: str) -> Response:
    """Delete a team secret (entity admins)."""
    secrets.delete_secret(uow, principal, entity, name)
    return Response(status_code=204)


@router.get("/entities/{entity}/integrations", response_model=list[IntegrationOut])
def get_integrations(uow: UowDep, principal: PrincipalDep, entity: str) -> list[IntegrationOut]:
    """The entity's integrations, oldest first."""
    rows, _ = integrations.list_integrations(uow, principal, entity, limit=1000)
    return [IntegrationOut.of(r) for r in rows]


@router.post("/entities/{entity}/integrations", status_code=201, response_model=IntegrationOut)
def post_integration(
    uow: UowDep, principal: PrincipalDep, entity: str, body: IntegrationIn
) -> IntegrationOut:
    """Add an integration (entity admins)."""
    row = integrations.create_integration(
        uow,
        principal,
        entity,
        kind=body.kind,
        name=body.name,
        url=body.url,
        secret_ref=body.secret_name,
        access_token_ref=body.access_token_name,
        channel_name=body.channel_name,
        team_name=body.team_name,
    )
    return IntegrationOut.of(row)


@router.get("/projects/{entity}/{project}/automations", response_model=AutomationsOut)
def get_automations(
    uow: UowDep, principal: PrincipalDep, entity: str, project: str
) -> AutomationsOut:
    """The project's automations and its latest 100 deliveries with their tries."""
    rows, views = service.deliveries_of_project(uow, principal, entity, project)
    return AutomationsOut(
        automations=[AutomationOut.of(r) for r in rows],
        deliveries=[
            DeliveryOut(
                id=v.delivery.id,
                automation=v.automation_name,
                event_type=v.event_type,
                kind=v.delivery.kind,
                url=v.delivery.url,
                state=v.delivery.state,
                attempts=[AttemptOut.model_validate(a, from_attributes=True) for a in v.attempts],
                body=v.body,
                created_at=as_utc(v.delivery.created_at),  # type: ignore[arg-type]
                finished_at=as_utc(v.delivery.finished_at),
            )
            for v in views
        ],
    )
