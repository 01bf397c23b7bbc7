"""What the native API and the sweep pages show of a sweep: its trials with their states,
parameters and metric, the best run, and parameter importance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.db.sweep_models import Sweep, SweepAgent
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.sweeps import controller, importance, reads, service
from runyard.server.tracking.project_reads import find_readable_project
from runyard.server.unit_of_work import UnitOfWork


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class TrialOut(BaseModel):
    """One trial: its run, state, parameters, metric value and (if stopped early) why."""

    run: str
    run_name: str | None = Field(None, description="the run's display name, where it has one")
    state: str
    params: dict[str, Any]
    metric: float | None
    stopped_early: bool
    stop_reason: str | None
    queue_item: str | None
    agent: int | None
    created_at: datetime | None


class ImportanceOut(BaseModel):
    """A parameter's correlation with the metric and its random-forest importance."""

    name: str
    correlation: float | None
    importance: float


class AgentOut(BaseModel):
    """A `wandb agent` of the sweep."""

    id: int
    host: str
    state: str
    heartbeat_at: datetime | None


class SweepSummary(BaseModel):
    """A sweep as a list shows it."""

    id: str
    entity: str
    project: str
    name: str | None
    method: str
    state: str
    metric: str | None
    goal: str
    run_count: int
    expected_runs: int | None
    best_value: float | None
    best_run: str | None
    best_run_name: str | None = Field(None, description="the best run's display name")
    created_at: datetime | None
    queue: str | None = Field(None, description="`entity/queue` of a launch sweep")


class SweepDetail(SweepSummary):
    """A sweep's page: config, trials, agents, launch settings and parameter importance."""

    config: dict[str, Any]
    config_yaml: str
    trials: list[TrialOut]
    agents: list[AgentOut]
    launch: dict[str, Any] | None
    importance: list[ImportanceOut]


def summary(uow: UnitOfWork, sweep: Sweep) -> SweepSummary:
    """The sweep's list entry."""
    stats = reads.sweep_stats(uow, sweep)
    metric, goal = reads.metric_of(sweep.config)
    launch = sweep.launch or {}
    return SweepSummary(
        id=sweep.name,
        entity=sweep.project.entity.name,
        project=sweep.project.name,
        name=sweep.display_name,
        method=sweep.method,
        state=sweep.state,
        metric=metric,
        goal=goal,
        run_count=stats.run_count,
        expected_runs=stats.expected_runs,
        best_value=stats.best_value,
        best_run=stats.best_run,
        best_run_name=stats.best_run_name,
        created_at=_utc(sweep.created_at),
        queue=f"{launch['entity']}/{launch['queue']}" if launch else None,
    )


def list_sweeps(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, limit: int = 100
) -> list[SweepSummary]:
    """A project's sweeps, newest first."""
    found = find_readable_project(uow, principal, entity, project)
    if found is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"project: {entity}/{project} does not exist")
    rows, _ = reads.sweeps_page(uow, found, limit, 0)
    return [summary(uow, sweep) for sweep in rows]


def detail(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str
) -> SweepDetail:
    """Everything the sweep page shows."""
    sweep = service.get_sweep(uow, principal, entity, project, name)
    metric, _ = reads.metric_of(sweep.config)
    runs = controller.runs_of(uow.session, sweep)
    trials = controller.trials_of(uow.session, sweep)
    out = []
    for trial in trials:
        run = runs.get(trial.run_name)
        # The run's state once it has one, except where the sweep ended the trial itself.
        state = trial.state
        if run is not None and trial.state not in ("canceled", "crashed"):
            state = run.state
        value = (run.summary or {}).get(metric) if run is not None and metric else None
        out.append(
            TrialOut(
                run=trial.run_name,
                run_name=run.display_name if run is not None else None,
                state=state,
                params=trial.params,
                metric=float(value)
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else None,
                stopped_early=trial.stop_requested_at is not None,
                stop_reason=trial.stop_reason,
                queue_item=trial.queue_item_id,
                agent=trial.agent_id,
                created_at=_utc(trial.created_at),
            )
        )
    scored = [(t.params, t.metric) for t in out if t.metric is not None]
    return SweepDetail(
        **summary(uow, sweep).model_dump(),
        config=sweep.config,
        config_yaml=sweep.config_yaml,
        trials=out,
        agents=[_agent(a) for a in reads.agents_of(uow, sweep)],
        launch=sweep.launch,
        importance=[
            ImportanceOut(name=p.name, correlation=p.correlation, importance=p.importance)
            for p in importance.importance([(p, float(m)) for p, m in scored if m is not None])
        ],
    )


def _agent(agent: SweepAgent) -> AgentOut:
    return AgentOut(
        id=agent.id, host=agent.host, state=agent.state, heartbeat_at=_utc(agent.heartbeat_at)
    )


def change_state(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str, state: str
) -> SweepSummary:
    """Pause, resume, stop or cancel a sweep (what `wandb sweep --pause` etc. do)."""
    require(principal, entity, Action.WRITE)
    sweep = service.get_sweep(uow, principal, entity, project, name)
    service.set_state(uow, sweep, service.states.parse_state(state))
    uow.session.flush()
    return summary(uow, sweep)


def flat_params(params: dict[str, Any]) -> dict[str, Any]:
    """Nested parameters as dotted names (the trials table's columns)."""
    return importance.flatten(params)
