"""The server-side sweep controller: what each agent heartbeat gets, one sweep at a time.

A heartbeat locks its sweep's row (`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the
write session already holds the database's write lock from its first statement), so two
agents heartbeating at once are answered one after the other and never get the same point.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.db.models import Run
from runyard.server.db.sweep_models import Sweep, SweepAgent, SweepTrial
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.sweeps import engine, states
from runyard.server.sweeps.service import get_sweep
from runyard.server.tracking import metric_chunks
from runyard.server.tracking.ids import decode_id
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

_RUN_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TERMINAL_RUN_STATES = frozenset({"finished", "failed", "crashed", "preempted"})


def lock_sweep(session: Session, sweep_id: int) -> Sweep:
    """The sweep's row, locked until the transaction ends (serialises its controller)."""
    sweep = session.scalars(
        select(Sweep)
        .where(Sweep.id == sweep_id)
        .with_for_update(of=Sweep)
        .execution_options(populate_existing=True)
    ).one()
    return sweep


def create_agent(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, sweep_name: str, host: str
) -> SweepAgent:
    """Register a `wandb agent` for a sweep; an ended sweep takes no agents."""
    require(principal, entity, Action.WRITE)
    sweep = get_sweep(uow, principal, entity, project, sweep_name)
    if sweep.state in states.ENDED:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"sweep: {entity}/{project}/{sweep_name} is {sweep.state.lower()}, so it takes no "
            "more agents: start a new sweep (`wandb sweep CONFIG.yaml`)",
        )
    now = uow.now()
    agent = SweepAgent(
        sweep_id=sweep.id,
        host=host[:256],
        state="RUNNING",
        user_id=principal.user_id,
        created_at=now,
        heartbeat_at=now,
    )
    uow.session.add(agent)
    uow.session.flush()
    logger.info("sweep agent", extra={"sweep": sweep.name, "agent": agent.id, "host": host})
    return agent


def parse_run_state(text: str | None) -> set[str]:
    """The runs an agent says are alive, from its `runState` JSON ({run_id: true})."""
    if not text:
        return set()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServiceError(ErrorCode.INVALID, f"runState: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ServiceError(ErrorCode.INVALID, "runState: must be a JSON object of run ids")
    return {str(name) for name, alive in value.items() if alive}


def heartbeat(
    uow: UnitOfWork, principal: Principal, agent_node_id: str, run_state: str | None
) -> tuple[SweepAgent, list[dict[str, Any]]]:
    """Record an agent's heartbeat and answer with its commands (run, stop, exit)."""
    alive = parse_run_state(run_state)
    session = uow.session
    try:
        agent = session.get(SweepAgent, decode_id("Agent", agent_node_id))
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"id: {exc}") from exc
    if agent is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"id: sweep agent {agent_node_id!r} does not exist")
    sweep = lock_sweep(session, agent.sweep_id)
    entity = sweep.project.entity.name
    try:
        require(principal, entity, Action.READ)
    except ServiceError as exc:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"id: sweep agent {agent_node_id!r} does not exist"
        ) from exc
    require(principal, entity, Action.WRITE)
    now = uow.now()
    agent.heartbeat_at = now
    if agent.state == "CRASHED":
        agent.state = "RUNNING"  # only silent, not dead
    trials = trials_of(session, sweep)
    runs = runs_of(session, sweep)
    mine = [t for t in trials if t.agent_id == agent.id and t.state in states.IN_FLIGHT]
    for trial in mine:
        if trial.run_name in alive:
            trial.state = "running"
        else:
            end_trial(trial, runs.get(trial.run_name), now)
    if sweep.controller is not None:
        local_early_stops(now, sweep, trials, runs)
    else:
        early_terminate(uow, sweep, trials, runs)
    in_flight = {t.run_name for t in mine if t.state in states.IN_FLIGHT}
    view = states.AgentView(
        alive=alive & in_flight | (alive if sweep.state == states.CANCELED else set()),
        in_flight=in_flight,
        to_stop={t.run_name for t in mine if t.stop_requested_at is not None},
    )
    commands = states.commands_without_new_run(sweep.state, view)
    if commands is None:
        if sweep.controller is not None:
            new = next_local_trial(session, now, sweep, trials)
        else:
            new = next_trial(session, now, sweep, trials, runs)
        if new is not None:
            new.agent_id = agent.id
            commands = [states.run_command(new.run_name, new.params, sweep.config.get("program"))]
        elif any(t.state in states.IN_FLIGHT for t in trials) or not local_done(sweep):
            commands = []  # others still run (a crashed point may come back), or the
            # local controller has not scheduled the next run yet
        else:
            sweep.state = states.FINISHED
            sweep.updated_at = now
            commands = [states.EXIT]
            logger.info("sweep finished", extra={"sweep": sweep.name})
    if sweep.state == states.CANCELED:
        for trial in mine:
            if trial.state in states.IN_FLIGHT:
                trial.state = "canceled"
                trial.ended_at = now
    if commands and commands[-1] == states.EXIT:
        agent.state = "FINISHED"
    session.flush()
    return agent, commands


def trials_of(session: Session, sweep: Sweep) -> list[SweepTrial]:
    """Every trial of the sweep, oldest first."""
    return list(
        session.scalars(
            select(SweepTrial).where(SweepTrial.sweep_id == sweep.id).order_by(SweepTrial.id)
        )
    )


def runs_of(session: Session, sweep: Sweep) -> dict[str, Run]:
    """The sweep's runs by name."""
    rows = session.scalars(
        select(Run).where(Run.project_id == sweep.project_id, Run.sweep_name == sweep.name)
    )
    return {run.name: run for run in rows}


def end_trial(trial: SweepTrial, run: Run | None, now: datetime) -> None:
    """A trial whose process ended: it ends as its run did. A run the controller stopped
    (early termination) ends `finished`, with the stop kept on the trial and the run."""
    trial.ended_at = now
    if trial.stop_requested_at is not None and run is not None:
        if run.state != "finished":
            run.state = "finished"
            run.finished_at = run.finished_at or now
        trial.state = "finished"
    elif run is None:
        trial.state = "failed"  # the process ended before its run started
    elif run.state in TERMINAL_RUN_STATES:
        trial.state = run.state
    else:
        trial.state = "finished"


def new_run_name(session: Session, sweep: Sweep, taken: set[str]) -> str:
    """A fresh 8-character run id for the sweep's project."""
    while True:
        name = "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(8))
        if name in taken:
            continue
        exists = session.scalars(
            select(Run.id).where(Run.project_id == sweep.project_id, Run.name == name)
        ).first()
        if exists is None:
            return name


def _metric_name(sweep: Sweep) -> str | None:
    metric = sweep.config.get("metric")
    name = metric.get("name") if isinstance(metric, dict) else None
    return str(name) if name else None


def _summary_metric(run: Run | None, name: str | None) -> float | None:
    if run is None or name is None:
        return None
    value = (run.summary or {}).get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def records(
    sweep: Sweep, trials: list[SweepTrial], runs: dict[str, Run]
) -> list[engine.TrialRecord]:
    """The trials as the engine sees them (state from the run once it has one)."""
    name = _metric_name(sweep)
    out = []
    for trial in trials:
        run = runs.get(trial.run_name)
        state = trial.state
        if (
            run is not None
            and trial.state not in states.IN_FLIGHT
            and run.state in TERMINAL_RUN_STATES
        ):
            state = run.state
        out.append(
            engine.TrialRecord(
                trial.run_name, dict(trial.params), state, _summary_metric(run, name)
            )
        )
    return out


def next_trial(
    session: Session, now: datetime, sweep: Sweep, trials: list[SweepTrial], runs: dict[str, Run]
) -> SweepTrial | None:
    """The engine's next point as a new trial (None when the space is used up or `run_cap`
    is reached). The engine offers a grid point whose run crashed once more."""
    params = engine.suggest_params(engine.parse_config(sweep.config), records(sweep, trials, runs))
    if params is None:
        return None
    taken = {t.run_name for t in trials}
    trial = SweepTrial(
        sweep_id=sweep.id,
        run_name=new_run_name(session, sweep, taken),
        params=params,
        state="pending",
        created_at=now,
    )
    session.add(trial)
    session.flush()
    trials.append(trial)
    return trial


def local_done(sweep: Sweep) -> bool:
    """Whether the sweep's local controller said it has nothing more to schedule (a
    schedule entry without args); always True for sweeps the server controls."""
    if sweep.controller is None:
        return True
    schedule = sweep.controller.get("schedule") or []
    return any(isinstance(e, dict) and (e.get("data") or {}).get("args") is None for e in schedule)


def next_local_trial(
    session: Session, now: datetime, sweep: Sweep, trials: list[SweepTrial]
) -> SweepTrial | None:
    """The local controller's next scheduled run as a trial, noted in `scheduler.scheduled`
    so the controller sees it was handed out (None while it scheduled nothing new)."""
    scheduler = dict(sweep.scheduler or {})
    scheduled = list(scheduler.get("scheduled") or [])
    handed = {entry.get("id") for entry in scheduled if isinstance(entry, dict)}
    for entry in (sweep.controller or {}).get("schedule") or []:
        if not isinstance(entry, dict) or entry.get("id") in handed:
            continue
        args = (entry.get("data") or {}).get("args")
        if not isinstance(args, dict):
            continue
        params = {
            k: v.get("value") if isinstance(v, dict) and "value" in v else v
            for k, v in args.items()
        }
        trial = SweepTrial(
            sweep_id=sweep.id,
            run_name=new_run_name(session, sweep, {t.run_name for t in trials}),
            params=params,
            state="pending",
            created_at=now,
        )
        session.add(trial)
        session.flush()
        trials.append(trial)
        scheduled.append({"id": entry.get("id"), "runid": trial.run_name})
        sweep.scheduler = {**scheduler, "scheduled": scheduled}
        return trial
    return None


def local_early_stops(
    now: datetime, sweep: Sweep, trials: list[SweepTrial], runs: dict[str, Run]
) -> None:
    """Mark the runs the local controller asks to stop (`controller.earlystop`)."""
    names = set((sweep.controller or {}).get("earlystop") or [])
    for trial in trials:
        if trial.run_name in names and trial.stop_requested_at is None:
            trial.stop_requested_at = now
            trial.stop_reason = "stopped by the sweep's local controller"
            run = runs.get(trial.run_name)
            if run is not None:
                run.stop_requested = True


def early_terminate(
    uow: UnitOfWork, sweep: Sweep, trials: list[SweepTrial], runs: dict[str, Run]
) -> None:
    """Ask the runs early termination (hyperband) picks to stop; their agents are told."""
    if not sweep.config.get("early_terminate") or sweep.state in states.ENDED:
        return
    name = _metric_name(sweep)
    running = [t for t in trials if t.state == "running" and t.stop_requested_at is None]
    if name is None or not running:
        return
    recs = records(sweep, trials, runs)
    by_name = {r.run_name: r for r in recs}
    run_ids = {runs[t.run_name].id: t.run_name for t in trials if t.run_name in runs}
    if run_ids:
        values = metric_chunks.values_by_step(uow.session, run_ids, name)
        for run_id, run_values in values.items():
            by_name[run_ids[run_id]].history.extend(run_values)
    stop = engine.runs_to_stop(engine.parse_config(sweep.config), recs)
    now = uow.now()
    for trial in running:
        if trial.run_name in stop:
            trial.stop_requested_at = now
            trial.stop_reason = stop[trial.run_name]
            run = runs.get(trial.run_name)
            if run is not None:
                run.stop_requested = True
            logger.info(
                "sweep run stopped early",
                extra={"sweep": sweep.name, "run": trial.run_name, "reason": trial.stop_reason},
            )


def mark_crashed_agents(uow: UnitOfWork, timeout: timedelta) -> int:
    """Agents silent for `timeout` are crashed; their trials and running runs crash too,
    and each crashed point is offered once more. Returns how many agents crashed."""
    session = uow.session
    cutoff = uow.now() - timeout
    agents = list(
        session.scalars(
            select(SweepAgent).where(
                SweepAgent.state == "RUNNING", SweepAgent.heartbeat_at < cutoff
            )
        )
    )
    for agent in agents:
        agent.state = "CRASHED"
        sweep = lock_sweep(session, agent.sweep_id)
        runs = runs_of(session, sweep)
        for trial in session.scalars(
            select(SweepTrial).where(
                SweepTrial.agent_id == agent.id, SweepTrial.state.in_(states.IN_FLIGHT)
            )
        ):
            trial.state = "crashed"
            trial.ended_at = agent.heartbeat_at
            run = runs.get(trial.run_name)
            if run is not None and run.state == "running":
                run.state = "crashed"
                run.finished_at = run.heartbeat_at
        logger.info("sweep agent crashed", extra={"sweep": sweep.name, "agent": agent.id})
    session.flush()
    return len(agents)


def settle_agent_sweeps(uow: UnitOfWork) -> int:
    """End the trials of agent sweeps whose runs ended (an agent run with `count` exits
    without another heartbeat), and finish a sweep whose search is done with nothing in
    flight. Returns how many sweeps finished."""
    session = uow.session
    # Launch sweeps are settled by their scheduler (a JSON null is not SQL NULL: test here).
    ids = [
        sweep.id
        for sweep in session.scalars(select(Sweep).where(Sweep.state == states.RUNNING))
        if not sweep.launch and sweep.controller is None
    ]
    finished = 0
    now = uow.now()
    for sweep_id in ids:
        sweep = lock_sweep(session, sweep_id)
        trials = trials_of(session, sweep)
        runs = runs_of(session, sweep)
        for trial in trials:
            run = runs.get(trial.run_name)
            ended = run is not None and run.state in TERMINAL_RUN_STATES
            if trial.state in states.IN_FLIGHT and ended:
                end_trial(trial, run, now)
        if any(t.state in states.IN_FLIGHT for t in trials) or sweep.state != states.RUNNING:
            continue
        config = engine.parse_config(sweep.config)
        target = config.metric is not None and config.metric.target is not None
        if config.method.value != "grid" and config.run_cap is None and not target:
            continue  # random and bayes search never run out by themselves
        if engine.suggest_params(config, records(sweep, trials, runs)) is None:
            sweep.state = states.FINISHED
            sweep.updated_at = now
            finished += 1
            logger.info("sweep finished", extra={"sweep": sweep.name})
    session.flush()
    return finished
