"""Changing a run's state by hand: W&B's `updateRunState` (the public API's `run.update_state`).

Only two moves are offered, as on W&B: back to `pending` (to requeue a run that ended or
is in progress) and to `failed` (to close a run whose process was lost). Runs of a sweep
keep the state their sweep gives them.
"""

from __future__ import annotations

import logging

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.automations import firing
from runyard.server.db.models import Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.runs import run_by_id
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# Target state -> the states a run may move to it from.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "failed", "crashed", "preempted"}),
    "failed": frozenset({"pending", "running"}),
}


def check_transition(current: str, target: str, *, in_sweep: bool) -> None:
    """Raise a ServiceError naming the rule unless a run may go from `current` to `target`."""
    if target not in TRANSITIONS:
        raise ServiceError(
            ErrorCode.INVALID,
            f"state: {target!r} cannot be set by hand; use one of {sorted(TRANSITIONS)}",
        )
    if in_sweep:
        raise ServiceError(
            ErrorCode.CONFLICT, "state: runs of a sweep cannot have their state updated"
        )
    if current not in TRANSITIONS[target]:
        allowed = ", ".join(sorted(TRANSITIONS[target]))
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"state: invalid state transition from {current} to {target} "
            f"(a run becomes {target} only from {allowed})",
        )


def update_run_state(uow: UnitOfWork, principal: Principal, node_id: str, state: str) -> Run:
    """Move the run with this node id to `state` (see TRANSITIONS); return it."""
    run = run_by_id(uow.session, principal, node_id, Action.WRITE)
    target = state.strip().lower()
    check_transition(run.state, target, in_sweep=bool(run.sweep_name))
    previous, run.state = run.state, target
    now = uow.now()
    run.updated_at = now
    # A failed run has ended; a pending one waits to run again.
    run.finished_at = now if target == "failed" else None
    if target == "pending":
        run.exit_code = None
    uow.session.flush()
    firing.on_run_state(uow.session, run, previous)
    logger.info(
        "run state updated",
        extra={"run": run.name, "project": run.project.name, "from": previous, "to": target},
    )
    return run
