"""Reading sweeps: their stats (run counts, best value), agents and a run's sweep."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from runyard.server.db.models import Project, Run
from runyard.server.db.sweep_models import Sweep, SweepAgent, SweepTrial
from runyard.server.sweeps.service import sweeps_of_project
from runyard.server.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class SweepStats:
    """What a sweep's listing shows besides its config."""

    run_count: int
    expected_runs: int | None
    best_value: float | None
    best_run: str | None
    heartbeat_at: datetime | None
    best_run_name: str | None = None  # the best run's display name, where it has one


def metric_of(config: dict[str, Any]) -> tuple[str | None, str]:
    """The sweep metric's name (None without one) and goal (minimize or maximize)."""
    metric = config.get("metric")
    if not isinstance(metric, dict) or not metric.get("name"):
        return None, "minimize"
    goal = str(metric.get("goal") or "minimize").lower()
    return str(metric["name"]), "maximize" if goal == "maximize" else "minimize"


def expected_runs(config: dict[str, Any]) -> int | None:
    """A grid's size (capped by run_cap), else run_cap; None when unbounded."""
    cap = config.get("run_cap") if isinstance(config.get("run_cap"), int) else None
    if config.get("method") != "grid":
        return cap
    size = _grid_size(config.get("parameters") or {})
    return min(size, cap) if cap else size


def _grid_size(parameters: dict[str, Any]) -> int:
    size = 1
    for spec in parameters.values():
        if not isinstance(spec, dict):
            continue
        if isinstance(spec.get("parameters"), dict):
            size *= _grid_size(spec["parameters"])
        elif isinstance(spec.get("values"), list):
            size *= max(1, len(spec["values"]))
        elif isinstance(spec.get("min"), int) and isinstance(spec.get("max"), int):
            size *= max(1, spec["max"] - spec["min"] + 1)
    return size


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def runs_of_sweep(uow: UnitOfWork, sweep: Sweep) -> list[Run]:
    """The sweep's runs, oldest first."""
    return list(
        uow.session.scalars(
            select(Run)
            .where(Run.project_id == sweep.project_id, Run.sweep_name == sweep.name)
            .order_by(Run.created_at, Run.id)
        )
    )


def best_of(runs: list[Run], config: dict[str, Any]) -> tuple[Run | None, float | None]:
    """The run with the best summary value of the sweep metric, and that value."""
    name, goal = metric_of(config)
    best: tuple[Run | None, float | None] = (None, None)
    if name is None:
        return best
    for run in runs:
        value = _number((run.summary or {}).get(name))
        if value is None:
            continue
        current = best[1]
        if current is None or (value < current if goal == "minimize" else value > current):
            best = (run, value)
    return best


def sweep_stats(uow: UnitOfWork, sweep: Sweep) -> SweepStats:
    """Run count, expected runs, best value and last agent heartbeat of a sweep."""
    runs = runs_of_sweep(uow, sweep)
    best_run, best_value = best_of(runs, sweep.config)
    heartbeat = uow.session.scalar(
        select(func.max(SweepAgent.heartbeat_at)).where(SweepAgent.sweep_id == sweep.id)
    )
    return SweepStats(
        run_count=len(runs),
        expected_runs=expected_runs(sweep.config),
        best_value=best_value,
        best_run=best_run.name if best_run else None,
        heartbeat_at=heartbeat,
        best_run_name=best_run.display_name if best_run else None,
    )


def sweep_of_project(uow: UnitOfWork, project: Project, name: str) -> Sweep | None:
    """A sweep of a project the caller already may read."""
    return uow.session.scalars(
        select(Sweep).where(Sweep.project_id == project.id, Sweep.name == name)
    ).first()


def sweeps_page(
    uow: UnitOfWork, project: Project, limit: int, offset: int
) -> tuple[list[Sweep], int]:
    """A page of a project's sweeps (newest first) and their total."""
    return sweeps_of_project(uow.session, project, limit, offset)


def sweep_of_run(uow: UnitOfWork, run: Run) -> Sweep | None:
    """The sweep a run belongs to, if any."""
    if not run.sweep_name:
        return None
    return uow.session.scalars(
        select(Sweep).where(Sweep.project_id == run.project_id, Sweep.name == run.sweep_name)
    ).first()


def trial_of_run(uow: UnitOfWork, run: Run) -> SweepTrial | None:
    """The trial a sweep run evaluates (latest, when a point was offered again)."""
    sweep = sweep_of_run(uow, run)
    if sweep is None:
        return None
    return uow.session.scalars(
        select(SweepTrial).where(SweepTrial.sweep_id == sweep.id, SweepTrial.run_name == run.name)
    ).first()


def agents_of(uow: UnitOfWork, sweep: Sweep) -> list[SweepAgent]:
    """The sweep's agents, oldest first."""
    return list(
        uow.session.scalars(
            select(SweepAgent).where(SweepAgent.sweep_id == sweep.id).order_by(SweepAgent.id)
        )
    )


def agent_runs(uow: UnitOfWork, agent: SweepAgent) -> list[str]:
    """The run names an agent was handed."""
    return list(
        uow.session.scalars(
            select(SweepTrial.run_name)
            .where(SweepTrial.agent_id == agent.id)
            .order_by(SweepTrial.id)
        )
    )


def sweep_of_agent(uow: UnitOfWork, agent: SweepAgent) -> Sweep | None:
    """The sweep an agent serves."""
    return uow.session.get(Sweep, agent.sweep_id)
