"""Sweep configs: W&B's shapes parse (with its inference and defaults), and every bad config
is refused with a message naming the field and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.sweeps import parse_sweep_config
from runyard.server.sweeps.config import Distribution, NestedParameters

SEED_EXAMPLE = """
program: train.py
method: bayes
metric:
  goal: minimize
  name: val_loss
parameters:
  batch_size: {distribution: q_log_uniform_values, max: 256, min: 32, q: 8}
  dropout: {values: [0.3, 0.4, 0.5]}
  epochs: {value: 1}
  learning_rate: {min: !!float 1e-5, max: 0.1}
  layers: {min: 1, max: 4}
  optimizer:
    parameters:
      name: {values: [adam, sgd]}
      momentum: {distribution: uniform, min: 0.8, max: 0.99}
early_terminate: {type: hyperband, s: 2, eta: 3, max_iter: 27}
run_cap: 20
command: ["${env}", "${interpreter}", "${program}", "${args}"]
"""


def test_the_seeds_example_parses_with_inference_and_defaults() -> None:
    config = parse_sweep_config(SEED_EXAMPLE)
    assert config.method == "bayes" and config.metric is not None
    assert config.metric.name == "val_loss" and config.run_cap == 20
    leaves = {".".join(path): p for path, p in config.leaves()}
    assert leaves["batch_size"].distribution is Distribution.Q_LOG_UNIFORM_VALUES
    assert leaves["dropout"].distribution is Distribution.CATEGORICAL
    assert leaves["epochs"].distribution is Distribution.CONSTANT
    assert leaves["learning_rate"].distribution is Distribution.UNIFORM, "float bounds"
    assert leaves["layers"].distribution is Distribution.INT_UNIFORM, "integer bounds"
    assert leaves["optimizer.momentum"].distribution is Distribution.UNIFORM
    assert isinstance(config.parameters["optimizer"], NestedParameters)
    hb = config.early_terminate
    assert hb is not None and (hb.max_iter, hb.s, hb.eta, hb.strict) == (27, 2, 3.0, False)
    normal = parse_sweep_config(
        {"method": "random", "parameters": {"x": {"distribution": "normal"}}}
    )
    assert (normal.leaves()[0][1].mu, normal.leaves()[0][1].sigma) == (0.0, 1.0)


def _error(raw: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        parse_sweep_config(raw)
    assert info.value.code is ErrorCode.INVALID
    return info.value


def _params(**params: Any) -> dict[str, Any]:
    return {"method": "random", "parameters": params}


@pytest.mark.parametrize(
    ("raw", "field", "fix"),
    [
        (
            {"method": "bayesian", "metric": {"name": "l"}, "parameters": {"x": {"values": [1]}}},
            "method",
            "grid, random, bayes",
        ),
        ({"parameters": {"x": {"values": [1]}}}, "method", "grid, random, bayes"),
        (_params(lr={"min": 0.1, "max": 0.01}), "parameters.lr.min", "less than max"),
        (
            _params(n={"distribution": "int_uniform", "min": 5, "max": 5}),
            "parameters.n.min",
            "less than max",
        ),
        (
            {"method": "bayes", "parameters": {"x": {"min": 0.0, "max": 1.0}}},
            "metric",
            "metric: {name: val_loss",
        ),
        (_params(x={"distribution": "gaussian"}), "parameters.x.distribution", "normal"),
        (
            _params(lr={"distribution": "log_uniform_values", "min": 0.001}),
            "parameters.lr.max",
            "needs max",
        ),
        (_params(lr={"distribution": "uniform"}), "parameters.lr.min", "needs min and max"),
        (
            _params(lr={"distribution": "log_uniform_values", "min": 0, "max": 1}),
            "parameters.lr.min",
            "> 0",
        ),
        (_params(x={"distribution": "categorical"}), "parameters.x.values", "non-empty list"),
        (_params(x={"distribution": "constant"}), "parameters.x.value", "needs 'value'"),
        (
            _params(x={"values": [1, 2], "probabilities": [0.5, 0.6]}),
            "parameters.x.probabilities",
            "sum to 1",
        ),
        (
            _params(x={"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}),
            "parameters.x.q",
            "positive",
        ),
        (_params(x={"distribution": "normal", "min": 0}), "parameters.x.min", "does not take"),
        (
            _params(x={"distribution": "int_uniform", "min": 0.5, "max": 3}),
            "parameters.x.min",
            "integer",
        ),
        (_params(x={"maxx": 3}), "parameters.x", "no distribution"),
        (
            _params(x={"distribution": "q_uniform", "min": 0.1, "max": 0.2, "q": 1}),
            "parameters.x.q",
            "no multiple of q=1",
        ),
        (
            _params(**{f"p{i}": {"value": i} for i in range(1001)}),
            "parameters",
            "more than 1000 parameters",
        ),
        (_params(x={"value": 1, "values": [1]}), "parameters.x", "not both"),
        (
            _params(x={"parameters": {"y": {"min": 3, "max": 1}}}),
            "parameters.x.parameters.y.min",
            "less than max",
        ),
        (
            {"method": "grid", "parameters": {"lr": {"min": 0.0, "max": 1.0}}},
            "parameters.lr",
            "values",
        ),
        ({"method": "random", "parameters": {}}, "parameters", "non-empty"),
        ({"method": "random"}, "parameters", "missing"),
        (
            {**_params(x={"values": [1]}), "metric": {"name": "l", "goal": "min"}},
            "metric.goal",
            "minimize or maximize",
        ),
        (
            {**_params(x={"values": [1]}), "metric": {"goal": "minimize"}},
            "metric.name",
            "name the logged metric",
        ),
        ({**_params(x={"values": [1]}), "run_cap": 0}, "run_cap", ">= 1"),
        (
            {**_params(x={"values": [1]}), "command": "python train.py"},
            "command",
            "list of strings",
        ),
        (
            {
                **_params(x={"values": [1]}),
                "metric": {"name": "l"},
                "early_terminate": {"type": "median"},
            },
            "early_terminate.type",
            "hyperband",
        ),
        (
            {
                **_params(x={"values": [1]}),
                "metric": {"name": "l"},
                "early_terminate": {"type": "hyperband", "max_iter": 27},
            },
            "early_terminate.s",
            "number of brackets",
        ),
        (
            {
                **_params(x={"values": [1]}),
                "metric": {"name": "l"},
                "early_terminate": {"type": "hyperband"},
            },
            "early_terminate",
            "exactly one of min_iter",
        ),
        (
            {
                **_params(x={"values": [1]}),
                "metric": {"name": "l"},
                "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 1},
            },
            "early_terminate.eta",
            "> 1",
        ),
        (
            {
                **_params(x={"values": [1]}),
                "metric": {"name": "l"},
                "early_terminate": {"type": "hyperband", "max_iter": 2, "s": 1},
            },
            "early_terminate.max_iter",
            "no bracket",
        ),
        (
            {**_params(x={"values": [1]}), "early_terminate": {"type": "hyperband", "min_iter": 3}},
            "metric",
            "early_terminate",
        ),
        ("method: [unclosed", "sweep config", "YAML"),
        ("- just a list", "sweep config", "mapping"),
    ],
)
def test_bad_config_names_the_field_and_the_fix(raw: Any, field: str, fix: str) -> None:
    error = _error(raw)
    assert f"{field}:" in error.message, error.message
    assert fix in error.message, error.message
    if field != "sweep config":
        assert field in [p["field"] for p in error.details["problems"]]


def test_all_problems_are_reported_at_once() -> None:
    error = _error(
        {"method": "grd", "parameters": {"a": {"min": 2, "max": 1}, "b": {"distribution": "x"}}}
    )
    fields = [p["field"] for p in error.details["problems"]]
    assert fields == ["method", "parameters.a.min", "parameters.b.distribution"]
