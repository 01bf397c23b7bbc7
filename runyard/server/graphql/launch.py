"""Resolvers for W&B's launch queue protocol: what `wandb launch --queue` sends.

Queues and items live in the server's QueueStore; these resolvers translate W&B's
shapes (node ids, JSON strings, integer priorities) to Runyard's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo

from runyard.launch.models import EnqueueRequest, ItemState, Priority, Queue, QueueItem
from runyard.server.access import Action
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import GraphQLContext, ctx
from runyard.server.queues import queue_service
from runyard.server.tracking.ids import decode_key, encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Entity, Project

mutation = MutationType()
project_type = ObjectType("Project")
entity_type = ObjectType("Entity")
run_queue = ObjectType("RunQueue")
run_queue_item = ObjectType("RunQueueItem")
resource_config = ObjectType("DefaultResourceConfig")


def queue_named(
    context: GraphQLContext, entity: str, name: str, action: Action = Action.READ
) -> Queue:
    """A queue by entity and name; a 404 naming the entity's queues when it does not exist."""
    return queue_service.get_queue(
        context.uow,
        context.principal,
        entity,
        name,
        action,
        what="launch queue",
        hint="; create it with `runyard queue create`",
    )


@project_type.field("runQueue")
def resolve_run_queue(project: Project, info: GraphQLResolveInfo, name: str) -> Queue | None:
    """A queue of the project's entity by name (W&B scopes queues to entity/project)."""
    context = ctx(info)
    return queue_service.find_queue(context.uow, context.principal, project.entity.name, name)


@project_type.field("runQueues")
def resolve_run_queues(project: Project, info: GraphQLResolveInfo) -> list[Queue]:
    """Every queue of the project's entity."""
    context = ctx(info)
    return queue_service.queues_of(context.uow, context.principal, project.entity.name)


@run_queue.field("id")
def resolve_run_queue_id(queue: Queue, _: GraphQLResolveInfo) -> str:
    """Node id of the queue."""
    return encode_id("RunQueue", queue.id)


# W&B's item states as its clients read them (they lowercase them for display).
WANDB_ITEM_STATES = {
    ItemState.PENDING: "PENDING",
    ItemState.CLAIMED: "LEASED",
    ItemState.LAUNCHING: "LEASED",
    ItemState.RUNNING: "CLAIMED",
    ItemState.FINISHED: "CLAIMED",
    ItemState.FAILED: "FAILED",
    ItemState.PREEMPTED: "FAILED",
    ItemState.CANCELED: "CANCELED",
}


@run_queue.field("runQueueItems")
def resolve_run_queue_items(
    queue: Queue, info: GraphQLResolveInfo, first: int | None = None, **_: Any
) -> dict[str, Any]:
    """The queue's items in claim order, at most `first` (W&B asks for 100)."""
    items = queue_service.items_of(ctx(info).uow, queue, min(first or 1000, 10_000))
    return {"edges": [{"node": item} for item in items]}


@run_queue.field("runQueueItem")
def resolve_run_queue_item(queue: Queue, info: GraphQLResolveInfo, id: str) -> QueueItem | None:
    """One item of this queue by node id; null when it is another queue's or unknown."""
    try:
        item_id = decode_key("RunQueueItem", id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"id: {exc}") from exc
    return queue_service.item_of_queue(ctx(info).uow, queue, item_id)


@run_queue_item.field("id")
def resolve_item_id(item: QueueItem, _: GraphQLResolveInfo) -> str:
    """Node id of the item (as pushToRunQueue returned it)."""
    return encode_id("RunQueueItem", item.id)


@run_queue_item.field("state")
def resolve_item_state(item: QueueItem, _: GraphQLResolveInfo) -> str:
    """The item's state in W&B's words."""
    return WANDB_ITEM_STATES[item.state]


@run_queue_item.field("associatedRunId")
def resolve_item_run(item: QueueItem, _: GraphQLResolveInfo) -> str | None:
    """The run the item's job logs to, once known."""
    return item.run_id


@run_queue_item.field("templateVariableValues")
def resolve_item_values(item: QueueItem, _: GraphQLResolveInfo) -> str:
    """The validated template values, as W&B's queue page shows them."""
    return json.dumps(item.template_values)


@run_queue_item.field("runSpec")
def resolve_item_spec(item: QueueItem, _: GraphQLResolveInfo) -> str:
    """The run spec as pushed."""
    return json.dumps(item.run_spec)


@run_queue_item.field("createdAt")
def resolve_item_created(item: QueueItem, _: GraphQLResolveInfo) -> str:
    """When the item was enqueued (UTC, as W&B writes times)."""
    return item.created_at.strftime("%Y-%m-%dT%H:%M:%S")


@run_queue_item.field("error")
def resolve_item_error(item: QueueItem, _: GraphQLResolveInfo) -> dict[str, Any] | None:
    """Why the item failed."""
    return item.error.model_dump() if item.error else None


@run_queue.field("access")
def resolve_run_queue_access(*_: Any) -> str:
    """Who may push: the queue's project (Runyard checks entity access)."""
    return "PROJECT"


@run_queue.field("defaultResourceConfigID")
def resolve_resource_config_id(queue: Queue, _: GraphQLResolveInfo) -> str:
    """The queue's config template has the queue's own id."""
    return encode_id("DefaultResourceConfig", queue.id)


@run_queue.field("prioritizationMode")
def resolve_prioritization(queue: Queue, _: GraphQLResolveInfo) -> str | None:
    """W&B's name for "serve by priority"."""
    return "V0" if queue.prioritization else None


@run_queue.field("externalLinks")
def resolve_external_links(*_: Any) -> dict[str, str]:
    """No external links."""
    return {}


@run_queue.field("createdBy")
def resolve_run_queue_owner(queue: Queue, _: GraphQLResolveInfo) -> str:
    """The queue's entity."""
    return queue.entity


@run_queue.field("createdAt")
def resolve_run_queue_created(queue: Queue, _: GraphQLResolveInfo) -> str:
    """When the queue was created."""
    return queue.created_at.isoformat()


@entity_type.field("defaultResourceConfig")
def resolve_default_resource_config(
    entity: Entity, info: GraphQLResolveInfo, id: str
) -> Queue | None:
    """The config template of the queue whose resource-config id this is."""
    try:
        queue_id = decode_key("DefaultResourceConfig", id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, str(exc)) from exc
    context = ctx(info)
    queues = queue_service.queues_of(context.uow, context.principal, entity.name)
    return next((q for q in queues if q.id == queue_id), None)


@resource_config.field("id")
def resolve_resource_config_node(queue: Queue, _: GraphQLResolveInfo) -> str:
    """Node id of the config template."""
    return encode_id("DefaultResourceConfig", queue.id)


@resource_config.field("templateVariables")
def resolve_template_variables(queue: Queue, _: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """Each declared variable with its constraints as a JSON schema string."""
    out = []
    for variable in queue.variables:
        schema = variable.model_dump(exclude={"name", "description"}, exclude_none=True)
        out.append(
            {
                "name": variable.name,
                "schema": json.dumps(schema),
                "description": variable.description,
            }
        )
    return out


def _json_object(text: object, field: str) -> dict[str, Any]:
    if not text:
        return {}
    if not isinstance(text, str):
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field} must be a JSON object encoded as a string (JSONString), "
            f"not a {type(text).__name__}: send json.dumps(value)",
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ServiceError(ErrorCode.INVALID, f"{field} must be a JSON object")
    return value


def _push(context: GraphQLContext, queue: Queue, data: dict[str, Any]) -> dict[str, Any]:
    try:
        request = EnqueueRequest(
            run_spec=_json_object(data.get("runSpec"), "runSpec"),
            priority=Priority.MEDIUM if data.get("priority") is None else data["priority"],
            template_values=_json_object(
                data.get("templateVariableValues"), "templateVariableValues"
            ),
        )
    except ValueError as exc:  # pydantic (priority)
        message = str(exc).replace("\n", " ")
        raise ServiceError(ErrorCode.UNPROCESSABLE, message) from exc
    item, created = queue_service.enqueue_on(context.uow, context.principal, queue, request)
    if created:
        context.on_enqueued()
    return {
        "runQueueItemId": encode_id("RunQueueItem", item.id),
        "runSpec": json.dumps(item.run_spec),
    }


@mutation.field("pushToRunQueueByName")
def resolve_push_by_name(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Enqueue on a queue named by entity and name (the project name is not part of the key)."""
    context = ctx(info)
    queue = queue_named(context, input["entityName"], input["queueName"], Action.WRITE)
    return _push(context, queue, input)


@mutation.field("pushToRunQueue")
def resolve_push(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Enqueue on a queue given by its node id."""
    context = ctx(info)
    try:
        queue_id = decode_key("RunQueue", input["queueID"])
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, str(exc)) from exc
    queue = queue_service.queue_by_id(
        context.uow, context.principal, queue_id, Action.WRITE, field="queueID"
    )
    return _push(context, queue, input)


BINDABLES = [mutation, project_type, entity_type, run_queue, run_queue_item, resource_config]
