"""Bayes search with Optuna's TPE sampler, rebuilt from the trials on each suggestion.

Why Optuna and not W&B's own `sweeps` package: see the README ("Sweeps engine"). Each call
builds an in-memory study from the trials (stateless, so any server replica can answer):
finished trials with a metric are complete; ended trials without one get the worst value seen
(W&B's `impute: worst`); running ones are added as running, and TPE's constant liar keeps
parallel agents from being handed the same point. Continuous parameters are searched in
their unit coordinate (`distributions.ppf`), so log-uniform is searched on a log scale,
normal by its quantiles, and so on.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Hashable, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState as OptunaState
from optuna.trial import create_trial

from runyard.server.sweeps.config import Distribution, Goal, Parameter, SweepConfig
from runyard.server.sweeps.distributions import ppf, to_unit
from runyard.server.sweeps.trials import Trial, get_path, is_missing, set_path, value_key

logger = logging.getLogger(__name__)
# Optuna logs every trial at INFO; the server's logs should not.
optuna.logging.set_verbosity(optuna.logging.WARNING)

# Random points before TPE models the results. Measured on Branin at a 30-trial budget
# (hack/bench and tests/test_sweep_search.py): 8 beat Optuna's default 10 there.
N_STARTUP_TRIALS = 8


def suggest_bayes(
    config: SweepConfig, trials: Sequence[Trial], *, seed: int | None = None
) -> dict[str, Any]:
    """The next parameters TPE proposes given the trials so far."""
    assert config.metric is not None  # parse_sweep_config requires it for bayes
    leaves = config.leaves()
    searched = [
        (f"p{i}", path, param)
        for i, (path, param) in enumerate(leaves)
        if param.distribution is not Distribution.CONSTANT
    ]
    space = {name: _optuna_distribution(param) for name, _, param in searched}
    # Each categorical's values by key (the first of equal values), to place trials fast.
    lookups = {
        name: _value_indices(param.values or [])
        for name, _, param in searched
        if param.distribution is Distribution.CATEGORICAL
    }
    maximize = config.metric.goal is Goal.MAXIMIZE

    done: list[tuple[dict[str, Any], float | None]] = []
    running: list[dict[str, Any]] = []
    for trial in trials:
        encoded = _encode(trial.params, searched, lookups)
        if encoded is None:
            continue  # parameters off the search space (edited config, foreign run)
        if trial.in_flight:
            running.append(encoded)
        else:
            done.append((encoded, trial.result))
    observed = [v for _, v in done if v is not None]
    worst = (min(observed) if maximize else max(observed)) if observed else None

    frozen = []
    for encoded, value in done:
        value = value if value is not None else worst
        if value is None:
            continue  # nothing to impute from yet
        frozen.append(create_trial(params=encoded, distributions=space, value=value))
    for encoded in running:
        frozen.append(create_trial(params=encoded, distributions=space, state=OptunaState.RUNNING))

    with warnings.catch_warnings():
        # multivariate and constant_liar are marked experimental, and stable since Optuna 2.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            constant_liar=True,
            n_startup_trials=N_STARTUP_TRIALS,
        )
        study = optuna.create_study(
            direction="maximize" if maximize else "minimize", sampler=sampler
        )
        study.add_trials(frozen)
        asked = study.ask(space).params

    params: dict[str, Any] = {}
    for path, param in leaves:
        if param.distribution is Distribution.CONSTANT:
            set_path(params, path, param.value)
    for name, path, param in searched:
        set_path(params, path, _decode(param, asked[name]))
    return params


def _optuna_distribution(param: Parameter) -> BaseDistribution:
    if param.distribution is Distribution.CATEGORICAL:
        # Indices, since values may be lists or dicts, which Optuna cannot hold.
        return CategoricalDistribution(list(range(len(param.values or []))))
    if param.distribution is Distribution.INT_UNIFORM:
        return IntDistribution(int(param.min), int(param.max))  # type: ignore[arg-type]
    return FloatDistribution(0.0, 1.0)


def _value_indices(values: list[Any]) -> dict[Hashable, int]:
    out: dict[Hashable, int] = {}
    for i, v in enumerate(values):
        out.setdefault(value_key(v), i)
    return out


def _encode(
    params: dict[str, Any],
    searched: list[tuple[str, tuple[str, ...], Parameter]],
    lookups: dict[str, dict[Hashable, int]],
) -> dict[str, Any] | None:
    encoded: dict[str, Any] = {}
    for name, path, param in searched:
        value = get_path(params, path)
        if is_missing(value):
            return None
        if name in lookups:
            coded = lookups[name].get(value_key(value))
        else:
            coded = _encode_value(param, value)
        if coded is None:
            return None
        encoded[name] = coded
    return encoded


def _encode_value(param: Parameter, value: Any) -> Any:
    if param.distribution is Distribution.INT_UNIFORM:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not float(value).is_integer() or not param.min <= value <= param.max:  # type: ignore[operator]
            return None
        return int(value)
    return to_unit(param, value)


def _decode(param: Parameter, coded: Any) -> Any:
    if param.distribution is Distribution.CATEGORICAL:
        return (param.values or [])[int(coded)]
    if param.distribution is Distribution.INT_UNIFORM:
        return int(coded)
    return ppf(param, float(coded))
