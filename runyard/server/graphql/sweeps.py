"""Resolvers for sweeps: `upsertSweep`, `createAgent`, `agentHeartbeat`, Project.sweep(s),
Sweep, Agent and the sweep fields of Run (what `wandb sweep`/`wandb agent` and the public
API's `api.sweep()`, `sweep.runs`, `sweep.best_run()`, `run.sweep` read)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.api.models import as_utc
from runyard.server.graphql.context import ctx
from runyard.server.sweeps import controller, reads, service
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.tracking.run_search import RunQuery, search_runs

if TYPE_CHECKING:
    from runyard.server.db.models import Project, Run
    from runyard.server.db.sweep_models import Sweep, SweepAgent

mutation = MutationType()
project_type = ObjectType("Project")
sweep_type = ObjectType("Sweep")
agent_type = ObjectType("Agent")
run_type = ObjectType("Run")


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return aware.strftime("%Y-%m-%dT%H:%M:%S") if aware else None


def _page(first: int | None, after: str | None) -> tuple[int, int]:
    start = decode_id("Cursor", after) + 1 if after else 0
    return start, max(1, min(first or 50, 1000))


def _connection(nodes: list[Any], start: int, has_more: bool) -> dict[str, Any]:
    edges = [{"node": n, "cursor": encode_id("Cursor", start + i)} for i, n in enumerate(nodes)]
    return {
        "edges": edges,
        "pageInfo": {"hasNextPage": has_more, "endCursor": edges[-1]["cursor"] if edges else None},
    }


# --- mutations -------------------------------------------------------------------------------


@mutation.field("upsertSweep")
def resolve_upsert_sweep(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Create a sweep from its YAML, or change one (`wandb sweep --pause|--resume|...`)."""
    context = ctx(info)
    data = service.UpsertSweepInput.model_validate(input)
    sweep, warnings = service.upsert_sweep(context.uow, context.principal, data)
    return {
        "sweep": sweep,
        "inserted": not data.id,
        "configValidationWarnings": warnings,
        "clientMutationId": input.get("clientMutationId"),
    }


@mutation.field("createAgent")
def resolve_create_agent(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Register a `wandb agent` for a sweep."""
    context = ctx(info)
    principal = context.principal
    agent = controller.create_agent(
        context.uow,
        principal,
        input.get("entityName") or principal.entity_name,
        input.get("projectName") or "uncategorized",
        input["sweep"],
        input.get("host") or "",
    )
    return {"agent": agent, "clientMutationId": input.get("clientMutationId")}


@mutation.field("agentHeartbeat")
def resolve_agent_heartbeat(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """An agent's heartbeat: its live runs in, its commands (run/stop/exit) out."""
    context = ctx(info)
    agent, commands = controller.heartbeat(
        context.uow, context.principal, input["id"], input.get("runState")
    )
    return {
        "agent": agent,
        "commands": json.dumps(commands),
        "clientMutationId": input.get("clientMutationId"),
    }


# --- Project ---------------------------------------------------------------------------------


@project_type.field("sweep")
def resolve_project_sweep(
    project: Project, info: GraphQLResolveInfo, sweepName: str
) -> Sweep | None:
    """A sweep of the project by its id."""
    return reads.sweep_of_project(ctx(info).uow, project, sweepName)


@project_type.field("sweeps")
def resolve_project_sweeps(
    project: Project,
    info: GraphQLResolveInfo,
    first: int | None = 50,
    after: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """The project's sweeps, newest first."""
    start, size = _page(first, after)
    rows, total = reads.sweeps_page(ctx(info).uow, project, size, start)
    return _connection(rows, start, start + len(rows) < total)


@project_type.field("totalSweeps")
def resolve_total_sweeps(project: Project, info: GraphQLResolveInfo) -> int:
    """How many sweeps the project has."""
    return reads.sweeps_page(ctx(info).uow, project, 1, 0)[1]


# --- Sweep -----------------------------------------------------------------------------------


SWEEP_ATTRIBUTES = {
    "displayName": lambda s: s.display_name or s.name,
    "config": lambda s: s.config_yaml,
    "createdAt": lambda s: _iso(s.created_at),
    "updatedAt": lambda s: _iso(s.updated_at),
    "earlyStopJobRunning": lambda s: False,
    "controller": lambda s: json.dumps(s.controller) if s.controller is not None else None,
    # A local-controller sweep: the runs handed out; a launch sweep: its queue settings.
    "scheduler": lambda s: (
        json.dumps(s.scheduler)
        if s.scheduler is not None
        else (json.dumps(s.launch) if s.launch else None)
    ),
}


def _bind(field: str, getter: Any) -> None:
    sweep_type.set_field(field, lambda sweep, _info, **_kw: getter(sweep))


for _field, _getter in SWEEP_ATTRIBUTES.items():
    _bind(_field, _getter)


@sweep_type.field("id")
def resolve_sweep_id(sweep: Sweep, _: GraphQLResolveInfo) -> str:
    """Node id of the sweep (upsertSweep takes it back to change the sweep)."""
    return encode_id("Sweep", sweep.id)


@sweep_type.field("runCount")
def resolve_run_count(sweep: Sweep, info: GraphQLResolveInfo) -> int:
    """How many runs the sweep has."""
    return reads.sweep_stats(ctx(info).uow, sweep).run_count


@sweep_type.field("runCountExpected")
def resolve_run_count_expected(sweep: Sweep, _: GraphQLResolveInfo) -> int | None:
    """A grid's size, else the run cap."""
    return reads.expected_runs(sweep.config)


@sweep_type.field("bestLoss")
def resolve_best_loss(sweep: Sweep, info: GraphQLResolveInfo) -> float | None:
    """The best value of the sweep metric so far."""
    return reads.sweep_stats(ctx(info).uow, sweep).best_value


@sweep_type.field("heartbeatAt")
def resolve_heartbeat_at(sweep: Sweep, info: GraphQLResolveInfo) -> str | None:
    """The last agent heartbeat."""
    return _iso(reads.sweep_stats(ctx(info).uow, sweep).heartbeat_at)


@sweep_type.field("runs")
def resolve_sweep_runs(
    sweep: Sweep,
    info: GraphQLResolveInfo,
    filters: str | None = None,
    order: str | None = None,
    first: int | None = 50,
    after: str | None = None,
) -> dict[str, Any]:
    """The sweep's runs, filtered and ordered like Project.runs."""
    context = ctx(info)
    start, size = _page(first, after)
    mine: dict[str, Any] = {"sweep": sweep.name}
    extra = json.loads(filters) if filters else None
    combined = json.dumps({"$and": [mine, extra]} if extra else mine)
    query = RunQuery(filters=combined, order=order, offset=start, limit=size)
    page = search_runs(context.uow, context.principal, sweep.project, None, query)
    return _connection(page.runs, start, page.has_more)


@sweep_type.field("agents")
def resolve_agents(sweep: Sweep, info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
    """The sweep's agents."""
    return _connection(reads.agents_of(ctx(info).uow, sweep), 0, False)


@sweep_type.field("agent")
def resolve_agent(sweep: Sweep, info: GraphQLResolveInfo, agentName: str) -> SweepAgent | None:
    """One agent of the sweep by its name (or node id)."""
    for agent in reads.agents_of(ctx(info).uow, sweep):
        if agentName in (str(agent.id), encode_id("Agent", agent.id)):
            return agent
    return None


# --- Agent -----------------------------------------------------------------------------------


@agent_type.field("id")
def resolve_agent_id(agent: SweepAgent, _: GraphQLResolveInfo) -> str:
    """Node id of the agent (its heartbeats send it)."""
    return encode_id("Agent", agent.id)


@agent_type.field("name")
def resolve_agent_name(agent: SweepAgent, _: GraphQLResolveInfo) -> str:
    """The agent's name."""
    return str(agent.id)


@agent_type.field("totalRuns")
def resolve_agent_total_runs(agent: SweepAgent, info: GraphQLResolveInfo) -> int:
    """How many runs the agent was handed."""
    return len(reads.agent_runs(ctx(info).uow, agent))


@agent_type.field("createdAt")
def resolve_agent_created(agent: SweepAgent, _: GraphQLResolveInfo) -> str | None:
    """When the agent registered."""
    return _iso(agent.created_at)


@agent_type.field("heartbeatAt")
def resolve_agent_heartbeat_at(agent: SweepAgent, _: GraphQLResolveInfo) -> str | None:
    """The agent's last heartbeat."""
    return _iso(agent.heartbeat_at)


@agent_type.field("runs")
def resolve_agent_runs(agent: SweepAgent, info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
    """The runs the agent was handed."""
    context = ctx(info)
    sweep = reads.sweep_of_agent(context.uow, agent)
    if sweep is None:
        return _connection([], 0, False)
    names = reads.agent_runs(context.uow, agent)
    query = RunQuery(filters=json.dumps({"name": {"$in": names}}), offset=0, limit=1000)
    page = search_runs(context.uow, context.principal, sweep.project, None, query)
    return _connection(page.runs, 0, False)


# --- Run -------------------------------------------------------------------------------------


@run_type.field("sweep")
def resolve_run_sweep(run: Run, info: GraphQLResolveInfo) -> Sweep | None:
    """The sweep the run belongs to."""
    return reads.sweep_of_run(ctx(info).uow, run)


@run_type.field("shouldStop")
def resolve_should_stop(run: Run, _: GraphQLResolveInfo) -> bool:
    """Whether someone (the sweep's early termination) asked the run to stop."""
    return bool(run.stop_requested)


@run_type.field("failed")
def resolve_failed(run: Run, _: GraphQLResolveInfo) -> bool:
    """Whether the run failed or crashed."""
    return run.state in ("failed", "crashed")


@run_type.field("running")
def resolve_running(run: Run, _: GraphQLResolveInfo) -> bool:
    """Whether the run is running."""
    return run.state == "running"


BINDABLES = [mutation, project_type, sweep_type, agent_type, run_type]
