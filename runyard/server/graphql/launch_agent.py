"""Resolvers for what the official `wandb launch-agent` sends: register, poll (pop),
ack, fail, warn and heartbeat. A W&B agent is a Runyard agent like any other: it is
registered in the same table, and its pops are claims with leases in the QueueStore.

Leases: the W&B agent never heartbeats per item. Every loop (about every 10 s, sooner
while jobs run) it sends `launchAgent` and `updateLaunchAgent`; both renew the leases of
every item the agent holds, so a queue's `lease_seconds` (60 s by default) outlives
several loops, while an agent that dies loses its items to the lease expiry as usual.
The same calls move acked items to the final state of their runs (launch_agent_rules).
"""

from __future__ import annotations

import logging
from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard.launch.models import ItemError, ItemState, Queue, QueueItem
from runyard.launch.queue.rules import TransitionError
from runyard.launch.queue.store import QueueStoreError
from runyard.server.clock import utcnow
from runyard.server.graphql import launch_agent_rules as rules
from runyard.server.graphql.context import GraphQLContext, ctx
from runyard.server.graphql.launch import queue_named
from runyard.server.queues import agent_service, agents
from runyard.server.queues.agent_service import AgentView
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.ids import decode_key, encode_id
from runyard.server.tracking.runs import TrackingError

log = logging.getLogger(__name__)

query = QueryType()
mutation = MutationType()
entity_type = ObjectType("Entity")
agent_type = ObjectType("LaunchAgent")

HELD = [ItemState.CLAIMED, ItemState.LAUNCHING, ItemState.RUNNING]


def _key(kind: str, node_id: str, field: str) -> str:
    try:
        return decode_key(kind, node_id)
    except ValueError as exc:
        raise TrackingError(f"{field}: {exc}", status=400) from exc


def _agent(context: GraphQLContext, node_id: str, field: str) -> AgentView:
    """The agent, read in a session of its own.

    These resolvers never use the mutation's session: on SQLite it takes the write lock at
    its first statement, and the SQL queue store writes through its own connection, so
    holding it across a store call would deadlock the request against itself.
    """
    agent_id = _key("LaunchAgent", node_id, field)
    return agent_service.agent_view(context.uow, context.principal, agent_id, field)


def _item(context: GraphQLContext, node_id: str) -> QueueItem:
    item = context.state.queue_store.get_item(_key("RunQueueItem", node_id, "runQueueItemId"))
    if item is None:
        raise TrackingError(f"runQueueItemId: queue item {node_id} does not exist", status=404)
    check_entity_access(context.principal, item.entity)
    return item


def _queue_by_node_id(context: GraphQLContext, node_id: str) -> Queue:
    queue_id = _key("RunQueue", node_id, "runQueues")
    for queue in context.state.queue_store.list_queues():
        if queue.id == queue_id:
            check_entity_access(context.principal, queue.entity)
            return queue
    raise TrackingError(f"runQueues: launch queue {node_id} does not exist", status=404)


def _report(context: GraphQLContext, item: QueueItem, state: ItemState, **kwargs: Any) -> QueueItem:
    try:
        return context.state.queue_store.report(
            item.id, item.agent_id or "", state, utcnow(), **kwargs
        )
    except (QueueStoreError, TransitionError) as exc:
        raise TrackingError(f"runQueueItemId: {exc}", status=409) from exc


@mutation.field("createLaunchAgent")
def resolve_create_agent(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Register the agent for its queues; its name doubles as the name of its own run."""
    context = ctx(info)
    check_entity_access(context.principal, input["entityName"])
    queues = [_queue_by_node_id(context, node_id) for node_id in input["runQueues"]]
    if not queues:
        raise TrackingError("runQueues: name at least one queue (wandb launch-agent -q NAME)")
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


def _keep_alive(context: GraphQLContext, agent: AgentView) -> None:
    """Renew the leases of the agent's items and settle acked items whose runs ended."""
    store = context.state.queue_store
    now = utcnow()
    mine: list[QueueItem] = []
    for path in agent.queues:
        entity, _, name = path.partition("/")
        queue = store.get_queue(entity, name)
        if queue is not None:
            mine += [i for i in store.list_items(queue, HELD) if i.agent_id == agent.id]
    if mine:
        store.renew(agent.id, [i.id for i in mine], now)
    for item in mine:
        where = rules.run_location(item)
        if item.state is not ItemState.RUNNING or where is None:
            continue
        row = agent_service.run_outcome(context.uow, *where)
        outcome = rules.outcome_of_run(row[0], row[1]) if row else None
        if outcome is not None:
            state, error = outcome
            store.report(item.id, agent.id, state, now, error=error)
            log.info(
                "wandb launch item settled",
                extra={"item": item.id, "run": item.run_id, "state": state.value},
            )


@mutation.field("updateLaunchAgent")
def resolve_update_agent(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """The agent's heartbeat: record its status and keep its items alive."""
    context = ctx(info)
    agent = _agent(context, input["launchAgentId"], "launchAgentId")
    status = (input.get("agentStatus") or "").lower()[:32] or None
    _keep_alive(context, agent)
    agent_service.touch(context.uow, agent.id, status)
    return {"success": True}


@query.field("launchAgent")
def resolve_launch_agent(_: Any, info: GraphQLResolveInfo, id: str) -> AgentView:
    """The agent as it polls itself each loop; also a heartbeat for its items' leases."""
    context = ctx(info)
    agent = _agent(context, id, "id")
    _keep_alive(context, agent)
    return agent


@agent_type.field("id")
def resolve_agent_id(agent: AgentView, _: GraphQLResolveInfo) -> str:
    """Node id of the agent."""
    return encode_id("LaunchAgent", agent.id)


@agent_type.field("runQueues")
def resolve_agent_queues(agent: AgentView, info: GraphQLResolveInfo) -> list[str]:
    """Node ids of the queues the agent serves (deleted queues are left out)."""
    store = ctx(info).state.queue_store
    out = []
    for path in agent.queues:
        entity, _, name = path.partition("/")
        queue = store.get_queue(entity, name)
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
def resolve_is_team(*_: Any) -> bool:
    """Runyard entities are personal namespaces."""
    return False


@mutation.field("popFromRunQueue")
def resolve_pop(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any] | None:
    """Claim the queue's best pending item for the agent (a lease, renewed by its loop)."""
    context = ctx(info)
    queue = queue_named(context, input["entityName"], input["queueName"])
    agent_node = input.get("launchAgentId")
    if not agent_node:
        raise TrackingError(
            "launchAgentId: popping needs a registered agent (createLaunchAgent) to hold "
            "the item's lease"
        )
    agent = _agent(context, agent_node, "launchAgentId")
    item = context.state.queue_store.claim([queue], agent.id, None, True, utcnow())
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
        raise TrackingError(
            f"runQueueItemId: item {item.id} is {item.state.value}, not claimed: only an "
            "item popped with popFromRunQueue can be acked",
            status=409,
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
        raise TrackingError(
            f"runQueueItemId: item {item.id} is {item.state.value}: only an item an agent "
            "holds (claimed, launching or running) can be failed",
            status=409,
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
        raise TrackingError(
            f"runQueueItemId: item {item.id} is {item.state.value}: warnings go on items "
            "an agent holds",
            status=409,
        )
    _report(context, item, item.state, warning=text)
    return {"success": True}


BINDABLES = [query, mutation, entity_type, agent_type]
