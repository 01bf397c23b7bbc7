"""Status conditions (Ready, Progressing, Degraded) computed as pure functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .api import Condition

REASON_INVALID = "InvalidSpec"


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    previous: list[dict[str, Any]],
    kind: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Conditions with one replaced; lastTransitionTime kept while the status is unchanged."""
    text = "True" if status else "False"
    old = next((c for c in previous if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == text else _timestamp(now)
    new = Condition(
        type=kind,  # type: ignore[arg-type]
        status=text,  # type: ignore[arg-type]
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    ).model_dump(by_alias=True)
    return [c for c in previous if c.get("type") != kind] + [new]


def summarize(
    previous: list[dict[str, Any]],
    generation: int,
    now: datetime,
    *,
    ready: bool,
    progressing: str | None,
    degraded: str | None,
    ready_message: str = "",
) -> tuple[str, list[dict[str, Any]]]:
    """Phase and all three conditions from what was observed; `degraded` names the field."""
    conditions = set_condition(
        previous,
        "Degraded",
        degraded is not None,
        REASON_INVALID if degraded else "AsExpected",
        degraded or "",
        generation,
        now,
    )
    conditions = set_condition(
        conditions,
        "Progressing",
        progressing is not None,
        "Reconciling" if progressing else "Reconciled",
        progressing or "",
        generation,
        now,
    )
    conditions = set_condition(
        conditions,
        "Ready",
        ready and degraded is None,
        "Available" if ready and degraded is None else "NotReady",
        ready_message if ready else (degraded or progressing or "not ready"),
        generation,
        now,
    )
    order = {"Ready": 0, "Progressing": 1, "Degraded": 2}
    conditions.sort(key=lambda c: order.get(c["type"], 9))
    if degraded is not None:
        phase = "Degraded"
    elif ready:
        phase = "Ready"
    else:
        phase = "Progressing"
    return phase, conditions
