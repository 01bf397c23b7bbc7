"""The server as the scheduler of launch sweeps: it keeps up to `workers` trials of each
running launch sweep on its queue, follows their items, and cancels them with the sweep.

W&B runs a scheduler job on the queue for this (`wandb launch-sweep` enqueues it); Runyard's
server does the scheduling itself, so no queue slot or GPU is spent on a scheduler and a
sweep starts at once. Items carry the trial's parameters (`overrides.run_config`), its run
id and the sweep id (the job's `wandb.init()` joins the sweep), and the sweep's template
values. A preempted item is requeued by the queue with the same run id: it resumes its run.

On SQLite the queue store shares the database, so each pass alternates short write
transactions with store calls instead of holding the write lock across them.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from runyard.launch.models import EnqueueRequest, ItemState, QueueItem
from runyard.launch.queue.store import QueueStoreError
from runyard.server.db.sweep_models import Sweep, SweepTrial
from runyard.server.errors import ServiceError
from runyard.server.queues import pools, service
from runyard.server.state import ServerState
from runyard.server.sweeps import states
from runyard.server.sweeps.controller import lock_sweep, next_trial, runs_of
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

_ITEM_END = {
    ItemState.FINISHED: "finished",
    ItemState.FAILED: "failed",
    ItemState.CANCELED: "canceled",
    ItemState.PREEMPTED: "crashed",
}


@dataclass
class _Plan:
    """What one pass decided for one sweep, to do against the queue store."""

    sweep_id: int
    launch: dict[str, Any]
    enqueue: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)


def trial_run_spec(
    launch: dict[str, Any], sweep_name: str, run_name: str, params: dict[str, Any]
) -> dict[str, Any]:
    """The run spec of one trial's queue item (pure)."""
    spec = copy.deepcopy(launch["run_spec"])
    spec["run_id"] = run_name
    spec["sweep_id"] = sweep_name
    overrides = spec.setdefault("overrides", {})
    overrides["run_config"] = {**(overrides.get("run_config") or {}), **params}
    return spec


def schedule_launch_sweeps(
    state: ServerState, on_enqueued: Callable[[], None] = lambda: None
) -> int:
    """One scheduling pass over every launch sweep not yet ended; returns items enqueued."""
    with UnitOfWork(state) as uow:
        # A JSON null is not SQL NULL: which sweeps launch is decided here, not in SQL.
        ids = [
            sweep.id
            for sweep in uow.session.scalars(
                select(Sweep).where(
                    Sweep.state.in_(
                        [states.RUNNING, states.PAUSED, states.CANCELED, states.FINISHED]
                    )
                )
            )
            if sweep.launch
        ]
    enqueued = 0
    for sweep_id in ids:
        try:
            enqueued += _schedule(state, sweep_id)
        except Exception:  # one broken sweep must not stop the others
            logger.exception("launch sweep scheduling failed", extra={"sweep_id": sweep_id})
    if enqueued:
        on_enqueued()
    return enqueued


def _in_flight_items(uow: UnitOfWork, sweep_id: int) -> dict[str, QueueItem]:
    """The queue items of the sweep's trials still in flight, by item id."""
    with uow.read_session() as session:
        item_ids = list(
            session.scalars(
                select(SweepTrial.queue_item_id).where(
                    SweepTrial.sweep_id == sweep_id,
                    SweepTrial.state.in_(states.IN_FLIGHT),
                    SweepTrial.queue_item_id.is_not(None),
                )
            )
        )
    items = {}
    for item_id in item_ids:
        assert item_id is not None
        item = uow.queue_store.get_item(item_id)
        if item is not None:
            items[item_id] = item
    return items


def _schedule(state: ServerState, sweep_id: int) -> int:
    uow = UnitOfWork(state)
    try:
        items = _in_flight_items(uow, sweep_id)
        plan = _decide(uow, sweep_id, items)
        if plan is None:
            return 0
        for item_id in plan.cancel:
            with contextlib.suppress(QueueStoreError):  # it ended meanwhile
                uow.queue_store.cancel(item_id, uow.now())
        return _enqueue(uow, plan)
    finally:
        uow.close()


def _decide(uow: UnitOfWork, sweep_id: int, items: dict[str, QueueItem]) -> _Plan | None:
    """Follow the trials' items, then pick new trials up to `workers` (one transaction)."""
    now = uow.now()
    with uow.write_transaction() as session:
        sweep = lock_sweep(session, sweep_id)
        if sweep.launch is None:
            return None
        plan = _Plan(sweep.id, dict(sweep.launch))
        trials = list(
            session.scalars(
                select(SweepTrial).where(SweepTrial.sweep_id == sweep.id).order_by(SweepTrial.id)
            )
        )
        runs = runs_of(session, sweep)
        for trial in trials:
            item = items.get(trial.queue_item_id or "")
            if trial.state not in states.IN_FLIGHT or item is None:
                continue
            if item.state.is_final:
                trial.state = _ITEM_END[item.state]
                run = runs.get(trial.run_name)
                if (
                    trial.state == "finished"
                    and run is not None
                    and run.state in ("failed", "crashed")
                ):
                    trial.state = run.state
                trial.ended_at = now
            elif item.state is not ItemState.PENDING:
                trial.state = "running"
        in_flight = [t for t in trials if t.state in states.IN_FLIGHT]
        if sweep.state == states.CANCELED:
            plan.cancel = [t.queue_item_id for t in in_flight if t.queue_item_id]
            for trial in in_flight:
                trial.state, trial.ended_at = "canceled", now
            return plan
        if sweep.state != states.RUNNING:
            return plan
        workers = int(plan.launch.get("workers") or 1)
        while len(in_flight) < workers:
            new = next_trial(session, now, sweep, trials, runs)
            if new is None:
                break
            in_flight.append(new)
            spec = trial_run_spec(plan.launch, sweep.name, new.run_name, new.params)
            plan.enqueue.append((new.id, new.run_name, spec))
        if not in_flight:
            sweep.state = states.FINISHED
            sweep.updated_at = now
            logger.info("launch sweep finished", extra={"sweep": sweep.name})
        return plan


def _enqueue(uow: UnitOfWork, plan: _Plan) -> int:
    """Put the planned trials on the queue and note their item ids (or why they failed)."""
    launch = plan.launch
    queue = uow.queue_store.get_queue(launch["entity"], launch["queue"])
    done: dict[int, str | None] = {}
    for trial_id, run_name, spec in plan.enqueue:
        if queue is None:
            done[trial_id] = None
            continue
        request = EnqueueRequest(
            run_spec=spec,
            template_values=dict(launch.get("template_values") or {}),
            request_id=f"sweep-{plan.sweep_id}-{run_name}",
        )
        try:
            policies = pools.serving_policies(uow.state.sessions, queue, uow.now())
            item, _ = service.enqueue(
                uow.queue_store, queue, request, uow.now(), uow.settings.max_value_bytes, policies
            )
            done[trial_id] = item.id
        except (ServiceError, ValueError) as exc:
            logger.warning(
                "launch sweep trial refused", extra={"run": run_name, "reason": str(exc)}
            )
            done[trial_id] = None
    if done:
        with uow.write_transaction() as session:
            for trial_id, item_id in done.items():
                trial = session.get(SweepTrial, trial_id)
                if trial is None:
                    continue
                if item_id is None:
                    trial.state, trial.ended_at = "failed", uow.now()
                else:
                    trial.queue_item_id = item_id
    return sum(1 for item_id in done.values() if item_id)
