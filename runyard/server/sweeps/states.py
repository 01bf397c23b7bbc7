"""Sweep states and the commands an agent's heartbeat answers with (pure).

W&B's states: PENDING (a launch sweep not started), RUNNING, PAUSED (no new runs until
resumed), FINISHED (`--stop`: no new runs, running ones finish) and CANCELED (`--cancel`:
running runs are killed, no new ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runyard.server.errors import ErrorCode, ServiceError

PENDING, RUNNING, PAUSED, FINISHED, CANCELED = (
    "PENDING",
    "RUNNING",
    "PAUSED",
    "FINISHED",
    "CANCELED",
)
STATES = (PENDING, RUNNING, PAUSED, FINISHED, CANCELED)
ENDED = frozenset({FINISHED, CANCELED})

# Trial states: handed out (no run yet), running, or one of the ends.
IN_FLIGHT = frozenset({"pending", "running"})

_ALLOWED: dict[str, frozenset[str]] = {
    PENDING: frozenset({RUNNING, PAUSED, FINISHED, CANCELED}),
    RUNNING: frozenset({RUNNING, PAUSED, FINISHED, CANCELED}),
    PAUSED: frozenset({RUNNING, PAUSED, FINISHED, CANCELED}),
    FINISHED: frozenset({FINISHED}),
    CANCELED: frozenset({CANCELED}),
}


def parse_state(value: str) -> str:
    """A state as given (any case), or an error naming the field and the choices."""
    state = value.upper()
    if state not in STATES:
        raise ServiceError(
            ErrorCode.INVALID,
            f"state: {value!r} is not a sweep state; use one of {', '.join(STATES)}",
        )
    return state


def check_transition(current: str, target: str) -> None:
    """Refuse a state change W&B refuses: an ended sweep stays ended."""
    if target not in _ALLOWED.get(current, frozenset()):
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"state: the sweep is {current.lower()}; a {current.lower()} sweep cannot become "
            f"{target.lower()} (create a new sweep, or `wandb sweep --update`)",
        )


@dataclass
class AgentView:
    """What the controller knows of one agent at a heartbeat."""

    # Runs the agent says are alive (its `runState`).
    alive: set[str]
    # The agent's trials still in flight, by run name.
    in_flight: set[str]
    # Of those, the ones the controller asked to stop (early termination).
    to_stop: set[str] = field(default_factory=set)


def run_command(run_name: str, params: dict[str, Any], program: str | None) -> dict[str, Any]:
    """The `run` command a `wandb agent` starts a run from (values wrapped as W&B does)."""
    return {
        "type": "run",
        "run_id": run_name,
        "runqueue_item_id": None,
        "args": {key: {"value": value} for key, value in params.items()},
        "program": program,
    }


def stop_command(run_name: str) -> dict[str, Any]:
    """Ask the agent to stop one of its runs (SIGTERM, then SIGKILL on repeats)."""
    return {"type": "stop", "run_id": run_name}


EXIT: dict[str, Any] = {"type": "exit"}


def commands_without_new_run(state: str, agent: AgentView) -> list[dict[str, Any]] | None:
    """The commands for an agent that gets no new run, or None when it may get one.

    RUNNING: a busy agent waits, an idle one may get a run (None). PENDING/PAUSED: wait.
    FINISHED: wait for the agent's runs to end, then exit. CANCELED: stop its runs and exit.
    Runs asked to stop (early termination) are told again at every heartbeat, as W&B does:
    the agent escalates to SIGKILL after its kill delay.
    """
    stops = [stop_command(name) for name in sorted(agent.to_stop & agent.alive)]
    if state == CANCELED:
        return [*(stop_command(name) for name in sorted(agent.alive)), EXIT]
    if state == FINISHED:
        return stops if agent.in_flight else [EXIT]
    if state in (PENDING, PAUSED) or agent.in_flight:
        return stops
    return None
