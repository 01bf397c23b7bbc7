"""Resolvers for what the official `wandb launch-agent` sends: register, poll (pop),
ack, fail, warn and heartbeat. A W&B agent is a Runyard agent like any other: it is
registered in the same table, and its pops are claims with leases in the QueueStore.

Leases: the W&B agent never heartbeats per item. Every loop (about every 10 s, sooner
while jobs run) it sends `launchAgent` and `updateLaunchAgent`; both renew the leases of
every item the agent holds, so a queue's `lease_seconds` (60 s by default) outlives
several loops, while an agent that dies loses its items to the lease expiry as usual.
The same calls move acked items to the final state of their runs (queues.wandb_agent).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard.launch.models import ItemError, ItemState, Queue, QueueItem
from runyard.server.access import Action, require
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import GraphQLContext, ctx
from runyard.server.graphql.launch import queue_named
from runyard.server.queues import agent_service, agents, queue_service, wandb_agent
from runyard.server.queues import wandb_agent_rules as rules
from runyard.server.queues.agent_service import AgentView
from runyard.server.tracking.ids import decode_key, encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Entity

log = logging.getLogger(__name__)

query = QueryType()
mutation = MutationType()
entity_type = ObjectType("Entity")
agent_type = ObjectType("LaunchAgent")


def _key(kind: str, node_id: str, field: str) -> str:
    try:
        return decode_key(kind, node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: {exc}") from exc


def _agent(context: GraphQLContext, node_id: str, field: str) -> AgentView:
    """The agent, read in a session of its own.

    These resolvers never use the mutation's session: on SQLite it takes the write lock at
    its first statement, and the SQL queue store writes through its own connection, so
    holding it across a store call would deadlock the request against itself.
    """
    agent_id = _key("LaunchAgent", node_id, field)
    return agent_service.agent_view(context.uow, context.principal, agent_id, field)


def _item(context: GraphQLContext, node_id: str) -> QueueItem:
    item_id = _key("RunQueueItem", node_id, "runQueueItemId")
    # Acks, failures and warnings act on the item for the agent holding it.
    return queue_service.held_item(context.uow, context.principal, item_id, "runQueueItemId")


def _queue_by_node_id(context: GraphQLContext, node_id: str) -> Queue:
    queue_id = _key("RunQueue", node_id, "runQueues")
    return queue_service.queue_by_id(context.uow, context.principal, queue_id, field="runQueues")


def _report(context: GraphQLContext, item: QueueItem, state: ItemState, **kwargs: Any) -> QueueItem:
    try:
        return queue_service.report_held(context.uow, item, state, **kwargs)
    except ServiceError as exc:
        raise ServiceError(exc.code, f"runQueueItemId: {exc}") from exc


@mutation.field("createLaunchAgent")
def resolve_create_agent(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Register the agent for its queues; its name doubles as the name of its own run."""
    context = ctx(info)
    require(context.principal, input["entityName"], Action.WRITE)
    queues = [_queue_by_node_id(context, node_id) for node_id in input["runQueues"]]
    if not queues:
        raise ServiceError(
            ErrorCode.INVALID, "runQueues: name at least one queue (wandb launch-agent -q NAME)"
        )
    body = agents.AgentRegistration(
        name="wandb-launch-agent",
        hostname=input["hostname"][:256],
        version=(input.get("version") or "")[:64],
        queues=[f"{q.entity}/{q.name}" for q in queues],
    )
    agent_id = agent_service.register_wandb_agent(
        context.uow, context.principal, input["entityName"], body
    )
    log.info("wandb launch agent registered", extra={"agent": agent_id, "queues": body.queues})
    return {"launchAgentId": encode_id("LaunchAgent", agent_id)}


@mutation.field("updateLaunchAgent")
def resolve_update_agent(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """The agent's heartbeat: record its status and keep its items alive."""
    context = ctx(info)
    agent = _agent(context, input["launchAgentId"], "launchAgentId")
    status = (input.get("agentStatus") or "").lower()[:32] or None
    wandb_agent.keep_alive(context.uow, agent)
    agent_service.touch(context.uow, agent.id, status)
    return {"success": True}


@query.field("launchAgent")
def resolve_launch_agent(_: Any, info: GraphQLResolveInfo, id: str) -> AgentView:
    """The agent as it polls itself each loop; also a heartbeat for its items' leases."""
    context = ctx(info)
    agent = _agent(context, id, "id")
    wandb_agent.keep_alive(context.uow, agent)
    return agent


@agent_type.field("id")
def resolve_agent_id(agent: AgentView, _: GraphQLResolveInfo) -> str:
    """Node id of the agent."""
    return encode_id("LaunchAgent", agent.id)


@agent_type.field("runQueues")
def resolve_agent_queues(agent: AgentView, info: GraphQLResolveInfo) -> list[str]:
    """Node ids of the queues the agent serves (deleted queues are left out)."""
    context = ctx(info)
    out = []
    for path in agent.queues:
        entity, _, name = path.partition("/")
        queue = queue_service.find_queue(context.uow, context.principal, entity, name)
        if queue is not None:
            out.append(encode_id("RunQueue", queue.id))
    return out


@agent_type.field("agentStatus")
def resolve_agent_status(agent: AgentView, _: GraphQLResolveInfo) -> str:
    """W&B spells statuses in capitals."""
    return agent.status.upper()


@agent_type.field("stopPolling")
def resolve_stop_polling(*_: Any) -> bool:
    """Runyard never asks an agent to stop polling."""
    return False


@agent_type.field("heartbeatAt")
def resolve_agent_heartbeat(agent: AgentView, _: GraphQLResolveInfo) -> str:
    """Last heartbeat, ISO 8601."""
    return agent.heartbeat_at.isoformat()


@entity_type.field("isTeam")
def resolve_is_team(entity: Entity, _: GraphQLResolveInfo) -> bool:
    """Whether the entity is a team (the agent warns that its members can run code here)."""
    return entity.is_team


@mutation.field("popFromRunQueue")
def resolve_pop(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any] | None:
    """Claim the queue's best pending item for the agent (a lease, renewed by its loop)."""
    context = ctx(info)
    queue = queue_named(context, input["entityName"], input["queueName"], Action.WRITE)
    agent_node = input.get("launchAgentId")
    if not agent_node:
        raise ServiceError(
            ErrorCode.INVALID,
            "launchAgentId: popping needs a registered agent (createLaunchAgent) to hold "
            "the item's lease",
        )
    agent = _agent(context, agent_node, "launchAgentId")
    item = queue_service.claim(context.uow, [queue], agent.id, None, True)
    if item is None:
        return None
    log.info(
        "wandb launch item popped",
        extra={"item": item.id, "agent": agent.id, "queue": queue.name},
    )
    return {
        "runQueueItemId": encode_id("RunQueueItem", item.id),
        "runSpec": rules.popped_run_spec(item, queue),
    }


@mutation.field("ackRunQueueItem")
def resolve_ack(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """The agent launched the item as run `runName`: running, linked to that run."""
    context = ctx(info)
    item = _item(context, input["runQueueItemId"])
    if item.state is not ItemState.CLAIMED:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"runQueueItemId: item {item.id} is {item.state.value}, not claimed: only an "
            "item popped with popFromRunQueue can be acked",
        )
    _report(context, item, ItemState.RUNNING, run_id=input["runName"])
    return {"success": True}


def _problem(data: dict[str, Any]) -> ItemError:
    files = data.get("filePaths") or []
    log_text = "files in the agent's run: " + ", ".join(files) if files else ""
    return ItemError(stage=data["stage"], message=data["message"], log=log_text)


@mutation.field("failRunQueueItem")
def resolve_fail(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """The agent gave up on the item: failed, with W&B's stage and message."""
    context = ctx(info)
    item = _item(context, input["runQueueItemId"])
    if not item.state.holds_lease:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"runQueueItemId: item {item.id} is {item.state.value}: only an item an agent "
            "holds (claimed, launching or running) can be failed",
        )
    _report(context, item, ItemState.FAILED, error=_problem(input))
    return {"success": True}


@mutation.field("updateRunQueueItemWarning")
def resolve_warning(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Attach the agent's warning to the item; its state stays."""
    context = ctx(info)
    item = _item(context, input["runQueueItemId"])
    problem = _problem(input)
    text = f"{problem.stage}: {problem.message}"
    if problem.log:
        text += f" ({problem.log})"
    if item.state.is_final or item.agent_id is None:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"runQueueItemId: item {item.id} is {item.state.value}: warnings go on items "
            "an agent holds",
        )
    _report(context, item, item.state, warning=text)
    return {"success": True}


BINDABLES = [query, mutation, entity_type, agent_type]
