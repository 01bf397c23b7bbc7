"""The sweep configuration's models: W&B's keys with its defaults filled in."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Method(StrEnum):
    """How the sweep picks the next parameters."""

    GRID = "grid"
    RANDOM = "random"
    BAYES = "bayes"


class Goal(StrEnum):
    """Which direction of the metric is better."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Distribution(StrEnum):
    """Every parameter distribution of W&B's sweep configuration."""

    CONSTANT = "constant"
    CATEGORICAL = "categorical"
    INT_UNIFORM = "int_uniform"
    UNIFORM = "uniform"
    Q_UNIFORM = "q_uniform"
    LOG_UNIFORM = "log_uniform"
    LOG_UNIFORM_VALUES = "log_uniform_values"
    Q_LOG_UNIFORM = "q_log_uniform"
    Q_LOG_UNIFORM_VALUES = "q_log_uniform_values"
    INV_LOG_UNIFORM = "inv_log_uniform"
    INV_LOG_UNIFORM_VALUES = "inv_log_uniform_values"
    NORMAL = "normal"
    Q_NORMAL = "q_normal"
    LOG_NORMAL = "log_normal"
    Q_LOG_NORMAL = "q_log_normal"
    BETA = "beta"
    Q_BETA = "q_beta"


class Parameter(BaseModel):
    """One searched (or constant) hyperparameter, with W&B's defaults filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    distribution: Distribution
    value: Any = None
    values: list[Any] | None = None
    probabilities: list[float] | None = None
    min: int | float | None = None
    max: int | float | None = None
    q: int | float = 1
    mu: float = 0.0
    sigma: float = 1.0
    a: float = 1.0
    b: float = 1.0


class NestedParameters(BaseModel):
    """A parameter that holds other parameters (`parameters:` under a parameter name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameters: dict[str, Parameter | NestedParameters]


class Metric(BaseModel):
    """The metric a bayes search optimises and hyperband compares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    goal: Goal = Goal.MINIMIZE
    target: float | None = None
    # Accepted for W&B compatibility (its schema has them); the engine imputes the worst value.
    impute: Literal["latest", "best", "worst"] | None = None
    impute_while_running: Literal["latest", "best", "worst", "false"] | None = None


class Hyperband(BaseModel):
    """`early_terminate` with `type: hyperband`; exactly one of `min_iter`/`max_iter` is set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["hyperband"] = "hyperband"
    min_iter: int | None = None
    max_iter: int | None = None
    s: int | None = None
    eta: float = 3.0
    # The seeds: "Defaults to false" (conservative: the run's best value so far is compared).
    strict: bool = False


class SweepConfig(BaseModel):
    """A validated sweep configuration; keys the engine does not use are kept in `extra`."""

    model_config = ConfigDict(frozen=True)

    method: Method
    parameters: dict[str, Parameter | NestedParameters]
    metric: Metric | None = None
    early_terminate: Hyperband | None = None
    run_cap: int | None = None
    program: str | None = None
    command: list[str] | None = None
    name: str | None = None
    description: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    def leaves(self) -> list[tuple[tuple[str, ...], Parameter]]:
        """Every leaf parameter with its path, sorted by path (W&B's order for grid points)."""
        out: list[tuple[tuple[str, ...], Parameter]] = []
        _collect_leaves(self.parameters, (), out)
        return sorted(out, key=lambda leaf: leaf[0])


def _collect_leaves(
    params: dict[str, Parameter | NestedParameters],
    prefix: tuple[str, ...],
    out: list[tuple[tuple[str, ...], Parameter]],
) -> None:
    for name, node in params.items():
        if isinstance(node, NestedParameters):
            _collect_leaves(node.parameters, (*prefix, name), out)
        else:
            out.append(((*prefix, name), node))
