"""Queues created through the official client, mapped onto Runyard's queue model:
`upsertRunQueue` (`wandb.Api().upsert_run_queue`) and the pair
`createDefaultResourceConfig` + `createRunQueue` (`wandb.Api().create_run_queue`), and
`deleteRunQueues` (`RunQueue.delete()`).

W&B keeps resource configs apart from queues; in Runyard a queue owns its config. So the
config id handed out by createDefaultResourceConfig is a draft that carries the config
itself (nothing is stored until createRunQueue), and no half-created queue can be left.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo
from pydantic import ValidationError

from runyard.launch.models import QueueSpec, TemplateVariable
from runyard.server.access import Action, require
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.queues import queue_service
from runyard.server.tracking.ids import decode_key, encode_id

log = logging.getLogger(__name__)
mutation = MutationType()

RESOURCES = ("kubernetes", "local-process", "local-container")


def _decode(text: str | None, field: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ServiceError(ErrorCode.INVALID, f"{field} must be a JSON object")
    return value


def template_variables(declared: dict[str, Any]) -> list[TemplateVariable]:
    """W&B's `{name: {"schema": {...}, "description": ...}}` as Runyard variables.

    A bare schema (`{name: {"type": ...}}`) is accepted too. Unknown schema keys are
    refused by TemplateVariable, naming the variable.
    """
    out = []
    for name, entry in declared.items():
        if not isinstance(entry, dict):
            raise ValueError(f"templateVariables.{name} must be an object with a schema")
        schema = entry.get("schema", entry)
        if isinstance(schema, str):
            schema = json.loads(schema)
        fields = {k: v for k, v in schema.items() if k != "description"}
        description = entry.get("description") or schema.get("description") or ""
        out.append(TemplateVariable(name=name, description=description, **fields))
    return out


def queue_spec(data: dict[str, Any]) -> QueueSpec:
    """The Runyard queue an upsertRunQueue input describes (pure; ValueError if invalid)."""
    resource = data["resourceType"]
    if resource not in RESOURCES:
        raise ValueError(
            f"resourceType {resource!r} is not served by Runyard agents; "
            f"use one of {', '.join(RESOURCES)}"
        )
    config = _decode(data.get("resourceConfig"), "resourceConfig")
    resource_args = config.get("resource_args")
    if isinstance(resource_args, dict):
        config = resource_args.get(resource, {})
    return QueueSpec(
        name=data["queueName"],
        entity=data["entityName"],
        project=data["projectName"],
        resource=resource,
        config=config,
        variables=template_variables(_decode(data.get("templateVariables"), "templateVariables")),
        prioritization=data.get("prioritizationMode") == "V0",
    )


DRAFT = "DefaultResourceConfigDraft"


def _spec_or_error(data: dict[str, Any]) -> QueueSpec:
    """The queue spec, or a 422 naming each invalid field (the client prefixes the operation)."""
    try:
        return queue_spec(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'queue'}: {e['msg']}" for e in exc.errors()
        )
        raise ServiceError(ErrorCode.UNPROCESSABLE, problems) from exc
    except ValueError as exc:
        raise ServiceError(ErrorCode.UNPROCESSABLE, str(exc)) from exc


@mutation.field("createDefaultResourceConfig")
def resolve_create_resource_config(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Validate the config and hand it back as a draft id for createRunQueue."""
    context = ctx(info)
    require(context.principal, input["entityName"], Action.MANAGE)
    draft = {
        "resourceType": input["resource"],
        "resourceConfig": input["config"],
        "templateVariables": input.get("templateVariables"),
    }
    # Refuse a bad config now, where the client reports it, not at createRunQueue.
    _spec_or_error(
        {**draft, "queueName": "draft", "entityName": input["entityName"], "projectName": "p"}
    )
    packed = base64.urlsafe_b64encode(json.dumps(draft).encode()).decode()
    return {"defaultResourceConfigID": encode_id(DRAFT, packed), "success": True}


# What createRunQueue without a defaultResourceConfigID gets (W&B makes a default config).
DEFAULT_DRAFT: dict[str, Any] = {"resourceType": "local-process", "resourceConfig": None}


def _draft(node_id: str | None) -> dict[str, Any]:
    if not node_id:
        return dict(DEFAULT_DRAFT)
    try:
        draft = json.loads(base64.urlsafe_b64decode(decode_key(DRAFT, node_id)))
    except (ValueError, binascii.Error) as exc:
        raise ServiceError(
            ErrorCode.INVALID,
            f"defaultResourceConfigID: {node_id[:40]!r} is not an id from "
            "createDefaultResourceConfig",
        ) from exc
    if not isinstance(draft, dict):
        raise ServiceError(ErrorCode.INVALID, "defaultResourceConfigID: not a resource config")
    return draft


@mutation.field("createRunQueue")
def resolve_create_run_queue(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Create the queue with the draft's config; an existing name is refused."""
    context = ctx(info)
    require(context.principal, input["entityName"], Action.MANAGE)
    data = {
        **_draft(input.get("defaultResourceConfigID")),
        "queueName": input["queueName"],
        "entityName": input["entityName"],
        "projectName": input["projectName"],
        "prioritizationMode": input.get("prioritizationMode"),
    }
    spec = _spec_or_error(data)
    queue = queue_service.create_queue(context.uow, context.principal, spec).queue
    log.info("run queue created", extra={"queue": f"{spec.entity}/{spec.name}"})
    return {"success": True, "queueID": encode_id("RunQueue", queue.id)}


@mutation.field("deleteRunQueues")
def resolve_delete_run_queues(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Delete each queue named by node id (all or none)."""
    context = ctx(info)
    for queue in queue_service.delete_queues(context.uow, context.principal, input["queueIDs"]):
        log.info("run queue deleted", extra={"queue": f"{queue.entity}/{queue.name}"})
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@mutation.field("upsertRunQueue")
def resolve_upsert_run_queue(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Create the queue, or replace its settings (pending items keep their rendered config)."""
    context = ctx(info)
    require(context.principal, input["entityName"], Action.MANAGE)
    spec = _spec_or_error(input)
    queue_service.put_queue(context.uow, context.principal, spec)
    log.info("run queue upserted", extra={"queue": f"{spec.entity}/{spec.name}"})
    return {"success": True, "configSchemaValidationErrors": []}


BINDABLES = [mutation]
