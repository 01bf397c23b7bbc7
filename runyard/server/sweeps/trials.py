"""What the search engine reads (trials) and answers (suggestions), and nested-parameter paths."""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrialState(StrEnum):
    """A trial's run state, as W&B names run states (any other text counts as ended)."""

    PENDING = "pending"
    RUNNING = "running"
    PREEMPTING = "preempting"
    PREEMPTED = "preempted"
    FINISHED = "finished"
    CRASHED = "crashed"
    FAILED = "failed"
    KILLED = "killed"


# Still going (or about to resume): their parameters are taken but they have no result yet.
IN_FLIGHT = frozenset(
    {TrialState.PENDING, TrialState.RUNNING, TrialState.PREEMPTING, TrialState.PREEMPTED}
)


class Trial(BaseModel):
    """One run of the sweep: its parameters (nested dict), state and metric value, if any."""

    model_config = ConfigDict(frozen=True)

    params: dict[str, Any]
    state: str = TrialState.FINISHED.value
    metric: float | None = None
    run_id: str | None = None

    @property
    def in_flight(self) -> bool:
        """Whether the trial still runs (or waits to run or resume)."""
        return self.state.lower() in IN_FLIGHT

    @property
    def crashed(self) -> bool:
        """Whether the trial's run crashed (its agent died or lost contact)."""
        return self.state.lower() == TrialState.CRASHED

    @property
    def result(self) -> float | None:
        """The metric value when it is a finite number, else None."""
        m = self.metric
        if m is None or isinstance(m, bool) or not math.isfinite(m):
            return None
        return float(m)


class Suggestion(BaseModel):
    """The parameters for the next run (nested like the config); `grid_index` for grid search."""

    model_config = ConfigDict(frozen=True)

    params: dict[str, Any] = Field(default_factory=dict)
    grid_index: int | None = None

    def wandb_config(self) -> dict[str, Any]:
        """The parameters in the shape W&B's agent receives: `{"lr": {"value": 0.1}, ...}`."""
        return {name: {"value": value} for name, value in self.params.items()}


def params_from_wandb_config(config: dict[str, Any]) -> dict[str, Any]:
    """Plain parameters from a run config whose top-level entries are `{"value": ...}` wrappers."""
    out: dict[str, Any] = {}
    for name, entry in config.items():
        if isinstance(entry, dict) and "value" in entry:
            out[name] = entry["value"]
        else:
            out[name] = entry
    return out


_MISSING = object()


def get_path(params: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a nested path, or `MISSING` when any level is absent."""
    node: Any = params
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def is_missing(value: Any) -> bool:
    """Whether `get_path` found nothing."""
    return value is _MISSING


def set_path(params: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set a value at a nested path, creating the intermediate dicts."""
    node = params
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def value_key(value: Any) -> Hashable:
    """A canonical key for comparing parameter values: 3.0 and 3 are the same grid value."""
    # Scalars (nearly every grid value) skip JSON: a suggestion keys every trial's values.
    kind = type(value)
    if kind is str:
        return ("s", value)
    if kind is bool:
        return ("b", value)
    if kind is int:
        return ("n", value)
    if kind is float:
        # A run config stores 3e6 from YAML as a float but the server may hand it back as
        # an int (or the reverse); both mean the same grid point.
        return ("n", int(value)) if value.is_integer() else ("f", value)
    if value is None:
        return ("z",)
    try:
        return ("j", json.dumps(_normalise(value), sort_keys=True, separators=(",", ":")))
    except (TypeError, ValueError):
        return ("r", repr(value))


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value
