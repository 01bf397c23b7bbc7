"""Resolvers for automations, integrations and team secrets: thin adapters over
`runyard.server.automations` (the client's `wandb.automations` API, `api.integrations()`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType, UnionType
from graphql import GraphQLResolveInfo

from runyard.server.automations import integrations as integration_service
from runyard.server.automations import secrets as secret_service
from runyard.server.automations import service
from runyard.server.automations.filters import ARTIFACT_EVENTS
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.tracking.ids import decode_id, encode_id

if TYPE_CHECKING:
    from runyard.server.db.automation_models import Automation, Integration
    from runyard.server.db.models import Entity, Project, User

mutation = MutationType()
project_type = ObjectType("Project")
user_type = ObjectType("User")
entity_type = ObjectType("Entity")
trigger_type = ObjectType("Trigger")
slack_type = ObjectType("SlackIntegration")
webhook_type = ObjectType("GenericWebhookIntegration")
secret_type = ObjectType("Secret")
scope_union = UnionType("TriggerScope")
condition_union = UnionType("TriggeringCondition")
action_union = UnionType("TriggeredAction")
integration_union = UnionType("Integration")


def _after(after: str | None, kind: str) -> int:
    if not after:
        return 0
    try:
        return decode_id(kind, after)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"after: {exc}") from exc


def _project_page(projects: list[Project], more: bool) -> dict[str, Any]:
    edges = [{"node": p, "cursor": encode_id("Project", p.id)} for p in projects]
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": more},
    }


# ---- reads ----------------------------------------------------------------------------------


@project_type.field("triggers")
def resolve_project_triggers(project: Project, info: GraphQLResolveInfo) -> list[Automation]:
    """The project's automations."""
    return service.automations_of_project(ctx(info).uow, project)


@user_type.field("projects")
def resolve_user_projects(
    user: User, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    """Projects of the entities the caller belongs to (the viewer's own listing)."""
    context = ctx(info)
    projects, more = service.projects_of_member(
        context.uow, context.principal, after_id=_after(after, "Project"), limit=first or 50
    )
    return _project_page(projects, more)


@entity_type.field("integrations")
def resolve_entity_integrations(
    entity: Entity, info: GraphQLResolveInfo, after: str | None = None, first: int | None = None
) -> dict[str, Any]:
    """The entity's integrations, oldest first."""
    context = ctx(info)
    rows, more = integration_service.list_integrations(
        context.uow,
        context.principal,
        entity.name,
        after_id=_after(after, "Integration"),
        limit=first or 50,
    )
    edges = [{"node": r, "cursor": encode_id("Integration", r.id)} for r in rows]
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": more},
    }


@entity_type.field("secrets")
def resolve_entity_secrets(
    entity: Entity, info: GraphQLResolveInfo
) -> list[secret_service.SecretView]:
    """The names of the entity's secrets."""
    context = ctx(info)
    return secret_service.list_secrets(context.uow, context.principal, entity.name)


@secret_type.field("entityId")
def resolve_secret_entity_id(secret: secret_service.SecretView, _: GraphQLResolveInfo) -> int:
    """The id of the secret's entity."""
    return secret.entity_id


@secret_type.field("createdAt")
def resolve_secret_created_at(secret: secret_service.SecretView, _: GraphQLResolveInfo) -> str:
    """When the secret was stored."""
    return secret.created_at.isoformat()


@trigger_type.field("id")
def resolve_trigger_id(row: Automation, _: GraphQLResolveInfo) -> str:
    """The automation's node id."""
    return encode_id("Trigger", row.id)


@trigger_type.field("createdAt")
def resolve_trigger_created_at(row: Automation, _: GraphQLResolveInfo) -> str:
    """When it was created."""
    return row.created_at.isoformat()


@trigger_type.field("updatedAt")
def resolve_trigger_updated_at(row: Automation, _: GraphQLResolveInfo) -> str:
    """When it last changed."""
    return row.updated_at.isoformat()


@trigger_type.field("scope")
def resolve_trigger_scope(row: Automation, info: GraphQLResolveInfo) -> Any:
    """Its project, or its artifact collection."""
    collection = service.collection_of(ctx(info).uow, row)
    return collection if collection is not None else row.project


@scope_union.type_resolver
def resolve_scope_type(obj: Any, *_: Any) -> str:
    """Projects are Projects; collections are W&B's ArtifactSequences."""
    return "Project" if type(obj).__name__ == "Project" else "ArtifactSequence"


@trigger_type.field("triggeringCondition")
def resolve_trigger_condition(row: Automation, _: GraphQLResolveInfo) -> dict[str, Any]:
    """Its event type and filter as the client saved it."""
    text = row.event_filter
    if row.event_type in ARTIFACT_EVENTS:
        # Saved artifact-event filters come back wrapped one level, as W&B answers them.
        text = json.dumps({"filter": text})
    return {"eventType": row.event_type, "filter": text}


@condition_union.type_resolver
def resolve_condition_type(*_: Any) -> str:
    """The only kind of condition."""
    return "FilterEventTriggeringCondition"


@trigger_type.field("triggeredAction")
def resolve_trigger_action(row: Automation, _: GraphQLResolveInfo) -> dict[str, Any]:
    """Its action, shaped as the client's action types."""
    config = row.action_config or {}
    if row.action_type == "GENERIC_WEBHOOK":
        payload = config.get("payload")
        return {
            "__typename": "GenericWebhookTriggeredAction",
            "integration": row.integration,
            "requestPayload": json.dumps(payload) if payload is not None else None,
        }
    if row.action_type == "NOTIFICATION":
        return {
            "__typename": "NotificationTriggeredAction",
            "integration": row.integration,
            "title": config.get("title"),
            "message": config.get("message"),
            "severity": config.get("severity"),
        }
    return {"__typename": "NoOpTriggeredAction", "noOp": True}


@action_union.type_resolver
def resolve_action_type(obj: dict[str, Any], *_: Any) -> str:
    """The action's own type name."""
    return str(obj["__typename"])


@integration_union.type_resolver
def resolve_integration_type(obj: Integration, *_: Any) -> str:
    """Slack or generic webhook."""
    return "SlackIntegration" if obj.kind == "slack" else "GenericWebhookIntegration"


@slack_type.field("id")
@webhook_type.field("id")
def resolve_integration_id(row: Integration, _: GraphQLResolveInfo) -> str:
    """The integration's node id."""
    return encode_id("Integration", row.id)


@slack_type.field("teamName")
def resolve_slack_team(row: Integration, _: GraphQLResolveInfo) -> str:
    """The Slack workspace (as given when it was added)."""
    return row.team_name or row.entity.name


@slack_type.field("channelName")
def resolve_slack_channel(row: Integration, _: GraphQLResolveInfo) -> str:
    """The channel it posts to."""
    return row.channel_name or row.name


@webhook_type.field("urlEndpoint")
def resolve_webhook_url(row: Integration, _: GraphQLResolveInfo) -> str:
    """The URL it POSTs to."""
    return row.url


@webhook_type.field("createdAt")
def resolve_webhook_created_at(row: Integration, _: GraphQLResolveInfo) -> str:
    """When it was added."""
    return row.created_at.isoformat()


# ---- writes ---------------------------------------------------------------------------------


@mutation.field("createFilterTrigger")
def resolve_create_trigger(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Save an automation."""
    context = ctx(info)
    data = service.TriggerInput.model_validate(input)
    row = service.create_automation(context.uow, context.principal, data)
    return {"trigger": row, "clientMutationId": input.get("clientMutationId")}


@mutation.field("updateFilterTrigger")
def resolve_update_trigger(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Change an automation."""
    context = ctx(info)
    data = service.TriggerInput.model_validate(input)
    row = service.update_automation(context.uow, context.principal, data)
    return {"trigger": row, "clientMutationId": input.get("clientMutationId")}


@mutation.field("deleteTrigger")
def resolve_delete_trigger(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Delete an automation."""
    context = ctx(info)
    service.delete_automation(context.uow, context.principal, input["triggerID"])
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@mutation.field("createGenericWebhookIntegration")
def resolve_create_webhook_integration(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Add a webhook integration."""
    context = ctx(info)
    row = integration_service.create_integration(
        context.uow,
        context.principal,
        input["entityName"],
        kind="webhook",
        name=input["name"],
        url=input["urlEndpoint"],
        secret_ref=input.get("secretRef"),
        access_token_ref=input.get("accessTokenRef"),
    )
    return {"integration": row, "clientMutationId": input.get("clientMutationId")}


@mutation.field("insertSecret")
def resolve_insert_secret(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Store a team secret."""
    context = ctx(info)
    secret_service.create_secret(
        context.uow,
        context.principal,
        input["entityName"],
        input["secretName"],
        input["secretValue"],
    )
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@mutation.field("deleteSecret")
def resolve_delete_secret(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Delete a team secret."""
    context = ctx(info)
    secret_service.delete_secret(
        context.uow, context.principal, input["entityName"], input["secretName"]
    )
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


BINDABLES = [
    mutation,
    project_type,
    user_type,
    entity_type,
    trigger_type,
    slack_type,
    webhook_type,
    secret_type,
    scope_union,
    condition_union,
    action_union,
    integration_union,
]
