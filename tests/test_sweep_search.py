"""The pure sweep search engine: random draws follow their distributions, grid enumerates by
index (crashed points once more), and bayes beats random on Branin. No server needed."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import numpy as np
import pytest
from scipy import stats

from runyard.server.sweeps import (
    Suggestion,
    Trial,
    params_from_wandb_config,
    parse_sweep_config,
    suggest,
)
from runyard.server.sweeps.distributions import ppf, to_unit
from runyard.server.sweeps.grid import build_grid

RANDOM_YAML = """
method: random
metric: {name: loss, goal: minimize}
parameters:
  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  dropout: {distribution: q_uniform, min: 0, max: 1, q: 0.1}
  optimizer: {values: [adam, sgd, rmsprop]}
  model:
    parameters:
      layers: {value: 4}
"""


def _draws(n: int = 200) -> list[dict[str, Any]]:
    config = parse_sweep_config(RANDOM_YAML)
    out = []
    trials: list[Trial] = []
    for i in range(n):
        s = suggest(config, trials, seed=i)
        assert s is not None
        out.append(s.params)
        trials.append(Trial(params=s.params, state="finished", metric=1.0))
    return out


def test_random_search_stays_in_range_and_follows_each_distribution() -> None:
    draws = _draws(200)

    lr = np.array([d["lr"] for d in draws])
    assert ((lr >= 1e-4) & (lr <= 0.1)).all()
    logs = np.log(lr)
    lo, hi = math.log(1e-4), math.log(0.1)
    # log(lr) is uniform on [log min, log max] ...
    assert stats.kstest(logs, "uniform", args=(lo, hi - lo)).pvalue > 0.01
    # ... which a uniform draw on [min, max] is not (the check can tell them apart).
    assert stats.kstest(lr, "uniform", args=(1e-4, 0.1 - 1e-4)).pvalue < 1e-6

    dropout = [d["dropout"] for d in draws]
    grid = [round(k * 0.1, 1) for k in range(11)]
    assert set(dropout) <= set(grid), "q_uniform values are multiples of q within [min, max]"
    # round(U(0, 1) / 0.1) * 0.1: the end points get half a step's probability each.
    expected = np.array([0.05] + [0.1] * 9 + [0.05]) * len(dropout)
    counts = Counter(dropout)
    observed = np.array([counts.get(v, 0) for v in grid])
    assert stats.chisquare(observed, expected).pvalue > 0.01

    optimizers = Counter(d["optimizer"] for d in draws)
    assert set(optimizers) == {"adam", "sgd", "rmsprop"}
    assert stats.chisquare([optimizers[k] for k in ("adam", "sgd", "rmsprop")]).pvalue > 0.01

    assert all(d["model"] == {"layers": 4} for d in draws), "nested constants are kept"


def test_categorical_probabilities_are_followed() -> None:
    config = parse_sweep_config(
        {
            "method": "random",
            "parameters": {"act": {"values": ["relu", "tanh"], "probabilities": [0.8, 0.2]}},
        }
    )
    picks = Counter(suggest(config, [], seed=i).params["act"] for i in range(400))  # type: ignore[union-attr]
    assert stats.chisquare([picks["relu"], picks["tanh"]], [320, 80]).pvalue > 0.01


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ({"distribution": "log_uniform", "min": -3, "max": 0}, lambda x: math.exp(-3) <= x <= 1),
        ({"distribution": "inv_log_uniform", "min": 0, "max": 3}, lambda x: math.exp(-3) <= x <= 1),
        (
            {"distribution": "inv_log_uniform_values", "min": 0.01, "max": 1},
            lambda x: 0.01 <= x <= 1,
        ),
        (
            {"distribution": "q_log_uniform_values", "min": 32, "max": 256, "q": 8},
            lambda x: x % 8 == 0 and 32 <= x <= 256 and isinstance(x, int),
        ),
        (
            {"distribution": "q_log_uniform", "min": 0, "max": 3, "q": 1},
            lambda x: isinstance(x, int) and 1 <= x <= 20,
        ),
        (
            {"distribution": "int_uniform", "min": -2, "max": 2},
            lambda x: isinstance(x, int) and -2 <= x <= 2,
        ),
        ({"min": 1, "max": 3}, lambda x: isinstance(x, int) and 1 <= x <= 3),
        ({"min": 1, "max": 3.0}, lambda x: isinstance(x, float) and 1 <= x <= 3),
        ({"distribution": "normal", "mu": 5, "sigma": 0.1}, lambda x: 4 < x < 6),
        (
            {"distribution": "q_normal", "mu": 5, "sigma": 2, "q": 0.5},
            lambda x: (x * 2) == int(x * 2),
        ),
        ({"distribution": "log_normal", "mu": 0, "sigma": 1}, lambda x: x > 0),
        (
            {"distribution": "q_log_normal", "mu": 2, "sigma": 0.5, "q": 1},
            lambda x: isinstance(x, int) and x >= 0,
        ),
        ({"distribution": "beta", "a": 2, "b": 5}, lambda x: 0 <= x <= 1),
        (
            {"distribution": "q_beta", "a": 2, "b": 2, "q": 0.25},
            lambda x: x in (0, 0.25, 0.5, 0.75, 1.0),
        ),
        (
            {"distribution": "q_uniform", "min": 1e-20, "max": 1e-19, "q": 1e-21},
            lambda x: 1e-20 <= x <= 1e-19,
        ),
        ({"distribution": "constant", "value": [1, 2]}, lambda x: x == [1, 2]),
    ],
)
def test_every_distribution_draws_values_on_its_support(spec: dict[str, Any], check: Any) -> None:
    config = parse_sweep_config({"method": "random", "parameters": {"x": spec}})
    values = [suggest(config, [], seed=i).params["x"] for i in range(100)]  # type: ignore[union-attr]
    bad = [v for v in values if not check(v)]
    assert not bad, f"{spec} drew {bad[:5]}"


def test_unit_coordinates_invert_the_continuous_distributions() -> None:
    config = parse_sweep_config(
        {
            "method": "random",
            "parameters": {
                "a": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1},
                "b": {"distribution": "normal", "mu": 1, "sigma": 3},
                "c": {"distribution": "beta", "a": 2, "b": 3},
                "d": {"distribution": "inv_log_uniform", "min": 1, "max": 4},
            },
        }
    )
    for _, param in config.leaves():
        for u in (0.1, 0.5, 0.9):
            assert to_unit(param, ppf(param, u)) == pytest.approx(u, abs=1e-9)
        # Values a parameter cannot produce are not placed in its space.
        assert to_unit(param, "text") is None


GRID_YAML = """
method: grid
parameters:
  lr: {values: [0.1, 0.01, 0.001]}
  batch: {values: [16, 32]}
  epochs: {value: 3}
"""


def _point(s: Suggestion | None) -> tuple[Any, Any]:
    assert s is not None
    return (s.params["lr"], s.params["batch"])


def test_grid_three_by_two_yields_six_distinct_points_then_none() -> None:
    config = parse_sweep_config(GRID_YAML)
    trials: list[Trial] = []
    seen = []
    for _ in range(6):
        s = suggest(config, trials)
        seen.append(_point(s))
        assert s is not None and s.params["epochs"] == 3
        # In flight: a second agent asking now gets another point.
        trials.append(Trial(params=s.params, state="running"))
    assert len(set(seen)) == 6
    assert set(seen) == {(lr, b) for lr in (0.1, 0.01, 0.001) for b in (16, 32)}
    # W&B's order: parameters sorted by name (batch, lr), the last varying fastest.
    assert seen[:4] == [(0.1, 16), (0.01, 16), (0.001, 16), (0.1, 32)]
    assert suggest(config, trials) is None
    finished = [Trial(params=t.params, state="finished", metric=1.0) for t in trials]
    assert suggest(config, finished) is None


def test_grid_offers_a_crashed_point_again_once() -> None:
    config = parse_sweep_config(GRID_YAML)
    trials = []
    for _ in range(6):
        s = suggest(config, trials)
        assert s is not None
        trials.append(Trial(params=s.params, state="finished", metric=0.5))
    # The agent running point (0.01, 32) died.
    crashed = next(
        i for i, t in enumerate(trials) if _point(Suggestion(params=t.params)) == (0.01, 32)
    )
    trials[crashed] = Trial(params=trials[crashed].params, state="crashed")

    retry = suggest(config, trials)
    assert _point(retry) == (0.01, 32)
    assert retry is not None
    trials.append(Trial(params=retry.params, state="running"))
    assert suggest(config, trials) is None, "the retry is in flight"

    trials[-1] = Trial(params=retry.params, state="crashed")
    assert suggest(config, trials) is None, "a point is offered again only once"

    # A failed (not crashed) run is the program's own failure: not retried.
    failed = [Trial(params=t.params, state="failed") for t in trials[:6]]
    assert suggest(config, failed) is None


def test_grid_enumerates_int_uniform_and_q_uniform_and_matches_float_ints() -> None:
    config = parse_sweep_config(
        {
            "method": "grid",
            "parameters": {
                "n": {"distribution": "int_uniform", "min": 1, "max": 3},
                "p": {"distribution": "q_uniform", "min": 0, "max": 0.3, "q": 0.1},
            },
        }
    )
    grid = build_grid(config)
    assert grid.size == 12
    points = [grid.point(i) for i in range(grid.size)]
    assert points[:4] == [
        {"n": 1, "p": 0},
        {"n": 1, "p": 0.1},
        {"n": 1, "p": 0.2},
        {"n": 1, "p": 0.3},
    ]
    # Run configs may give back 2.0 for 2: it is the same point.
    trials = [Trial(params={"n": 1.0, "p": p["p"]}, state="finished") for p in points[:4]]
    assert suggest(config, trials).params == {"n": 2, "p": 0}  # type: ignore[union-attr]


def test_big_grid_is_addressed_by_index_not_enumerated() -> None:
    # 100 ** 6 = 10**12 points: listing them would never finish.
    params = {f"x{i}": {"values": list(range(100))} for i in range(6)}
    config = parse_sweep_config({"method": "grid", "parameters": params})
    grid = build_grid(config)
    assert grid.size == 10**12
    rng = random.Random(7)
    for _ in range(50):
        index = rng.randrange(grid.size)
        assert grid.index_of(grid.point(index)) == index
    trials = [Trial(params=grid.point(i), state="running") for i in range(500)]
    assert suggest(config, trials).grid_index == 500  # type: ignore[union-attr]


def test_run_cap_and_target_end_the_search() -> None:
    config = parse_sweep_config(
        {
            "method": "random",
            "run_cap": 3,
            "metric": {"name": "acc", "goal": "maximize", "target": 0.9},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )
    t = [Trial(params={"x": 0.5}, state="finished", metric=0.5)]
    assert suggest(config, t) is not None
    assert suggest(config, t * 3) is None, "run_cap reached"
    assert suggest(config, [Trial(params={"x": 0.5}, state="running", metric=0.95)]) is None


def branin(x1: float, x2: float) -> float:
    """Branin-Hoo: three global minima of 0.397887 on [-5, 10] x [0, 15]."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def _best_after(method: str, seed: int, budget: int = 30) -> float:
    config = parse_sweep_config(
        {
            "method": method,
            "metric": {"name": "branin", "goal": "minimize"},
            "parameters": {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}},
        }
    )
    trials: list[Trial] = []
    for i in range(budget):
        s = suggest(config, trials, seed=seed * 1000 + i)
        assert s is not None
        value = branin(s.params["x1"], s.params["x2"])
        trials.append(Trial(params=s.params, state="finished", metric=value))
    return min(t.metric for t in trials if t.metric is not None)


def test_bayes_beats_random_on_branin_at_30_trials_over_5_seeds() -> None:
    bayes = [_best_after("bayes", seed) for seed in range(5)]
    rand = [_best_after("random", seed) for seed in range(5)]
    assert np.mean(bayes) < np.mean(rand), (bayes, rand)
    # Not a fluke of one seed: bayes is close to the optimum (0.398) on average.
    assert np.mean(bayes) < 1.5, bayes


def test_bayes_handles_running_failed_categorical_and_nested_trials() -> None:
    config = parse_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "acc", "goal": "maximize"},
            "parameters": {
                "opt": {"values": [{"name": "adam"}, {"name": "sgd"}]},
                "net": {"parameters": {"width": {"min": 8, "max": 64}}},
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "seed": {"value": 1},
            },
        }
    )
    trials = []
    for i in range(12):
        s = suggest(config, trials, seed=i)
        assert s is not None
        p = s.params
        assert p["opt"] in ({"name": "adam"}, {"name": "sgd"})
        assert isinstance(p["net"]["width"], int) and 8 <= p["net"]["width"] <= 64
        assert 1e-4 <= p["lr"] <= 1e-1 and p["seed"] == 1
        state, metric = ("finished", -abs(math.log10(p["lr"]) + 2)) if i % 4 else ("crashed", None)
        trials.append(Trial(params=p, state=state, metric=metric))
    trials.append(Trial(params={"unrelated": 1}, state="finished", metric=100.0))
    trials.append(Trial(params=trials[-2].params, state="running"))
    assert suggest(config, trials, seed=99) is not None


def test_grid_over_nested_parameters_and_the_wandb_config_shape() -> None:
    config = parse_sweep_config(
        {
            "method": "grid",
            "parameters": {
                "optimizer": {
                    "parameters": {"name": {"values": ["adam", "sgd"]}, "eps": {"value": 1e-8}}
                },
                "layers": {"values": [[64, 64], [128]]},
            },
        }
    )
    trials: list[Trial] = []
    points = []
    while (s := suggest(config, trials)) is not None:
        points.append(s.params)
        # The agent gets W&B's shape; the run's config comes back in it too.
        run_config = s.wandb_config()
        assert run_config["optimizer"] == {"value": s.params["optimizer"]}
        trials.append(Trial(params=params_from_wandb_config(run_config), state="finished"))
    assert points == [
        {"layers": [64, 64], "optimizer": {"name": "adam", "eps": 1e-8}},
        {"layers": [64, 64], "optimizer": {"name": "sgd", "eps": 1e-8}},
        {"layers": [128], "optimizer": {"name": "adam", "eps": 1e-8}},
        {"layers": [128], "optimizer": {"name": "sgd", "eps": 1e-8}},
    ]


def test_bayes_gives_parallel_agents_different_points() -> None:
    # Two agents ask one after the other with the same seed: the first's point is in flight
    # (constant liar counts it as a bad result), so the second gets another point.
    config = parse_sweep_config(
        {
            "method": "bayes",
            "metric": {"name": "branin", "goal": "minimize"},
            "parameters": {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}},
        }
    )
    rng = random.Random(3)
    trials = []
    for _ in range(15):
        p = {"x1": rng.uniform(-5, 10), "x2": rng.uniform(0, 15)}
        trials.append(Trial(params=p, state="finished", metric=branin(p["x1"], p["x2"])))
    first = suggest(config, trials, seed=42)
    assert first is not None
    assert suggest(config, trials, seed=42) == first, "same inputs, same seed: same point"
    second = suggest(config, [*trials, Trial(params=first.params, state="running")], seed=42)
    assert second is not None and second.params != first.params
