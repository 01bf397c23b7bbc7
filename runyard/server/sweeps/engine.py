"""The one place the sweep service meets the search engine (`config`, `search`, `early_stop`).

The engine is pure: it parses a W&B sweep config, suggests the next point from every trial
so far (a grid point whose run crashed is free again, once), and picks the runs hyperband
stops. This module turns the service's rows into the engine's inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runyard.server.sweeps import early_stop, search
from runyard.server.sweeps.config import SweepConfig, parse_sweep_config
from runyard.server.sweeps.trials import Trial


@dataclass
class TrialRecord:
    """A trial as the engine sees it: its point, its state and its metric so far."""

    run_name: str
    params: dict[str, Any]
    state: str
    # The run's latest value of the sweep metric (its summary), if it logged one.
    metric: float | None = None
    # The metric at each logged step, in order (what hyperband compares at its bands).
    history: list[float] = field(default_factory=list)


def parse_config(raw: dict[str, Any]) -> SweepConfig:
    """The engine's validated config; a ServiceError names each bad field."""
    return parse_sweep_config(raw)


def suggest_params(config: SweepConfig, trials: list[TrialRecord]) -> dict[str, Any] | None:
    """The next point to try, or None when the space is used up or run_cap is reached."""
    engine_trials = [
        Trial(params=t.params, state=t.state, metric=t.metric, run_id=t.run_name) for t in trials
    ]
    suggestion = search.suggest(config, engine_trials)
    return None if suggestion is None else dict(suggestion.params)


def runs_to_stop(config: SweepConfig, trials: list[TrialRecord]) -> dict[str, str]:
    """Running trials hyperband stops now, each with the reason (empty without it)."""
    if config.early_terminate is None or config.metric is None:
        return {}
    histories = [
        early_stop.RunHistory(run_id=t.run_name, state=t.state, values=list(t.history))
        for t in trials
        if t.history
    ]
    decisions = early_stop.hyperband_decisions(config, histories)
    metric = config.metric
    return {d.run_id: d.reason(metric.name, metric.goal) for d in decisions}
