"""Sweeps: the sweep configuration and the pure search engine (grid, random, bayes, hyperband),
and the services around it (service, controller, launch scheduling, reads).

`parse_sweep_config` checks a config, `suggest` gives the next run's parameters and
`runs_to_stop` the runs hyperband ends; those engine modules touch no database.
"""

from runyard.server.sweeps.config import SweepConfig, parse_sweep_config
from runyard.server.sweeps.early_stop import (
    RunHistory,
    StopDecision,
    hyperband_decisions,
    runs_to_stop,
)
from runyard.server.sweeps.search import suggest
from runyard.server.sweeps.trials import Suggestion, Trial, TrialState, params_from_wandb_config

__all__ = [
    "RunHistory",
    "StopDecision",
    "Suggestion",
    "SweepConfig",
    "Trial",
    "TrialState",
    "hyperband_decisions",
    "params_from_wandb_config",
    "parse_sweep_config",
    "runs_to_stop",
    "suggest",
]
