"""The search engine's one entry point: the next parameters for a sweep, or None when done.

Pure: the caller passes every trial of the sweep (any state) and stores the suggestion as a
new trial before asking again. When suggestions are serialised per sweep (the controller
holds a lock or a row version), two agents never get the same grid point, because the
first one's trial is in flight when the second asks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from runyard.server.sweeps.config import Goal, Method, SweepConfig
from runyard.server.sweeps.distributions import ppf
from runyard.server.sweeps.grid import next_grid_point
from runyard.server.sweeps.trials import Suggestion, Trial, set_path


def suggest(
    config: SweepConfig, trials: Sequence[Trial], *, seed: int | None = None
) -> Suggestion | None:
    """The next run's parameters; None when the grid is done, run_cap or the target is reached.

    `seed` makes random and bayes suggestions reproducible; leave it None in production
    (or vary it per call) so that equal inputs do not give equal points.
    """
    if config.run_cap is not None and len(trials) >= config.run_cap:
        return None
    if target_reached(config, trials):
        return None
    if config.method is Method.GRID:
        return next_grid_point(config, trials)
    if config.method is Method.RANDOM:
        return Suggestion(params=random_params(config, random.Random(seed)))
    # Optuna is imported only by sweeps that use it: it is slow to import.
    from runyard.server.sweeps.bayes import suggest_bayes

    return Suggestion(params=suggest_bayes(config, trials, seed=seed))


def random_params(config: SweepConfig, rng: random.Random) -> dict[str, Any]:
    """One draw from every parameter's distribution."""
    params: dict[str, Any] = {}
    for path, param in config.leaves():
        set_path(params, path, ppf(param, rng.random()))
    return params


def target_reached(config: SweepConfig, trials: Sequence[Trial]) -> bool:
    """Whether some trial's metric reached `metric.target` (the sweep then makes no new runs)."""
    metric = config.metric
    if metric is None or metric.target is None:
        return False
    for trial in trials:
        value = trial.result
        if value is None:
            continue
        if metric.goal is Goal.MINIMIZE and value <= metric.target:
            return True
        if metric.goal is Goal.MAXIMIZE and value >= metric.target:
            return True
    return False
