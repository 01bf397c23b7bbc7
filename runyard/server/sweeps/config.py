"""The sweep configuration: W&B's YAML/dict shape, parsed and checked into pydantic models.

`parse_sweep_config` is the one entry point. Every refusal is a `ServiceError(INVALID)` whose
message names the field (`parameters.lr.min`) and the fix; `details["problems"]` lists each
problem as `{"field": ..., "message": ...}` so an adapter can show them all at once.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.sweeps.config_models import (
    Distribution,
    Goal,
    Hyperband,
    Method,
    Metric,
    NestedParameters,
    Parameter,
    SweepConfig,
)
from runyard.server.sweeps.parameters import MAX_PARAMETERS, check_grid, parse_parameters
from runyard.server.sweeps.problems import Problems, is_int, is_number

__all__ = [
    "Distribution",
    "Goal",
    "Hyperband",
    "Method",
    "Metric",
    "NestedParameters",
    "Parameter",
    "SweepConfig",
    "parse_sweep_config",
]

_KNOWN_TOP_LEVEL = frozenset(
    {
        "method",
        "parameters",
        "metric",
        "early_terminate",
        "run_cap",
        "program",
        "command",
        "name",
        "description",
    }
)


def parse_sweep_config(raw: dict[str, Any] | str) -> SweepConfig:
    """Parse a sweep config (YAML/JSON text or a dict) and check it; raise naming each bad field."""
    if isinstance(raw, str):
        try:
            loaded = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ServiceError(
                ErrorCode.INVALID,
                f"sweep config: not valid YAML ({exc}); fix the syntax at the place shown",
            ) from exc
    else:
        loaded = raw
    if not isinstance(loaded, dict):
        raise ServiceError(
            ErrorCode.INVALID,
            "sweep config: expected a mapping with method and parameters, e.g. "
            "'method: random' and 'parameters: {lr: {min: 0.001, max: 0.1}}'",
        )
    problems = Problems()
    method = _parse_method(loaded.get("method"), problems)
    metric = _parse_metric(loaded.get("metric"), problems)
    parameters = parse_parameters(loaded.get("parameters"), "parameters", problems, depth=0)
    early = _parse_early_terminate(loaded.get("early_terminate"), problems)
    run_cap = _parse_run_cap(loaded.get("run_cap"), problems)
    command = _parse_command(loaded.get("command"), problems)
    texts = {key: _parse_text(loaded.get(key), key, problems) for key in ("program", "name")}
    description = _parse_text(loaded.get("description"), "description", problems)
    if method is Method.BAYES and metric is None and "metric" not in loaded:
        problems.add(
            "metric",
            "method bayes needs a metric to optimise; add e.g. "
            "'metric: {name: val_loss, goal: minimize}'",
        )
    if early is not None and metric is None and "metric" not in loaded:
        problems.add(
            "metric",
            "early_terminate (hyperband) compares runs by a metric; add e.g. "
            "'metric: {name: val_loss, goal: minimize}'",
        )
    if parameters is not None and _count_leaves(parameters) > MAX_PARAMETERS:
        problems.add(
            "parameters",
            f"more than {MAX_PARAMETERS} parameters; search fewer (keep fixed ones in the "
            "program's own config)",
        )
    if method is Method.GRID and parameters is not None:
        check_grid(parameters, "parameters", problems)
    problems.raise_if_any()
    assert method is not None and parameters is not None  # checked above
    return SweepConfig(
        method=method,
        parameters=parameters,
        metric=metric,
        early_terminate=early,
        run_cap=run_cap,
        program=texts["program"],
        command=command,
        name=texts["name"],
        description=description,
        extra={k: v for k, v in loaded.items() if k not in _KNOWN_TOP_LEVEL},
    )


def _parse_method(value: Any, problems: Problems) -> Method | None:
    choices = ", ".join(m.value for m in Method)
    if value is None:
        problems.add("method", f"missing; set it to one of {choices}")
        return None
    try:
        return Method(value)
    except ValueError:
        problems.add("method", f"{value!r} is not a search method; use one of {choices}")
        return None


def _parse_metric(value: Any, problems: Problems) -> Metric | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add("metric", "expected a mapping such as '{name: val_loss, goal: minimize}'")
        return None
    ok = True
    for key in value:
        if key not in Metric.model_fields:
            problems.add(f"metric.{key}", "unknown key; metric takes name, goal and target")
            ok = False
    name = value.get("name")
    if not isinstance(name, str) or not name:
        problems.add("metric.name", "missing; name the logged metric, e.g. 'name: val_loss'")
        ok = False
    goal = value.get("goal", Goal.MINIMIZE.value)
    if goal not in {g.value for g in Goal}:
        problems.add("metric.goal", f"{goal!r} is not a goal; use minimize or maximize")
        ok = False
    target = value.get("target")
    if target is not None and not is_number(target):
        problems.add("metric.target", f"{target!r} is not a number; give the value to reach")
        ok = False
    for key, allowed in (
        ("impute", ("latest", "best", "worst")),
        ("impute_while_running", ("latest", "best", "worst", "false")),
    ):
        if key in value and value[key] not in allowed:
            problems.add(f"metric.{key}", f"{value[key]!r} is not one of {', '.join(allowed)}")
            ok = False
    if not ok or not isinstance(name, str):
        return None
    return Metric(
        name=name,
        goal=Goal(goal),
        target=float(target) if target is not None else None,
        impute=value.get("impute"),
        impute_while_running=value.get("impute_while_running"),
    )


def _parse_early_terminate(value: Any, problems: Problems) -> Hyperband | None:
    if value is None:
        return None
    field = "early_terminate"
    if not isinstance(value, dict):
        problems.add(field, "expected a mapping such as '{type: hyperband, min_iter: 3}'")
        return None
    before = len(problems.items)
    kind = value.get("type")
    if kind != "hyperband":
        problems.add(
            f"{field}.type",
            f"{kind!r} is not a stopping algorithm; use 'type: hyperband'",
        )
    for key in value:
        if key not in Hyperband.model_fields:
            problems.add(
                f"{field}.{key}",
                "unknown key; hyperband takes type, min_iter, max_iter, s, eta and strict",
            )
    for key in ("min_iter", "max_iter", "s"):
        v = value.get(key)
        if v is not None and (not is_int(v) or v < 1):
            problems.add(f"{field}.{key}", f"must be a whole number >= 1, got {v!r}")
    eta = value.get("eta", 3)
    if not is_number(eta) or not math.isfinite(eta) or eta <= 1:
        problems.add(f"{field}.eta", f"must be a number > 1 (default 3), got {eta!r}")
    strict = value.get("strict", False)
    if not isinstance(strict, bool):
        problems.add(f"{field}.strict", f"must be true or false, got {strict!r}")
    has_min, has_max = value.get("min_iter") is not None, value.get("max_iter") is not None
    if has_min == has_max:
        problems.add(
            field,
            "set exactly one of min_iter (the first bracket) or max_iter (with s), e.g. "
            "'min_iter: 3' or 'max_iter: 27, s: 2'",
        )
    elif has_max and value.get("s") is None:
        problems.add(f"{field}.s", "max_iter needs s, the number of brackets; e.g. 's: 2'")
    if len(problems.items) > before:
        return None
    hb = Hyperband(
        min_iter=value.get("min_iter"),
        max_iter=value.get("max_iter"),
        s=value.get("s"),
        eta=float(eta),
        strict=strict,
    )
    if hb.max_iter is not None and hb.max_iter / hb.eta < 1:
        problems.add(
            f"{field}.max_iter",
            f"max_iter {hb.max_iter} / eta {hb.eta:g} is below 1, so there is no bracket; "
            "raise max_iter or lower eta",
        )
        return None
    return hb


def _parse_run_cap(value: Any, problems: Problems) -> int | None:
    if value is None:
        return None
    if not is_int(value) or value < 1:
        problems.add("run_cap", f"must be a whole number >= 1, got {value!r}")
        return None
    return int(value)


def _parse_command(value: Any, problems: Problems) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(
            "command",
            "expected a list of strings, e.g. "
            "['${env}', '${interpreter}', '${program}', '${args}']",
        )
        return None
    return list(value)


def _parse_text(value: Any, field: str, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(field, f"expected text, got {type(value).__name__}")
        return None
    return value


def _count_leaves(params: dict[str, Parameter | NestedParameters]) -> int:
    return sum(
        _count_leaves(node.parameters) if isinstance(node, NestedParameters) else 1
        for node in params.values()
    )
