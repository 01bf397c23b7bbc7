"""Parsing and checking a sweep config's `parameters`: W&B's inference and each
distribution's arguments (the seeds' table "Sweep configuration options")."""

from __future__ import annotations

import math
from typing import Any

from runyard.server.sweeps.config_models import Distribution, NestedParameters, Parameter
from runyard.server.sweeps.problems import Problems, is_int, is_number

# The keys each distribution takes; anything else in the parameter is refused (as W&B's
# schema does), so a typo such as `maxx` is caught instead of silently ignored.
_MIN_MAX = frozenset({"min", "max"})
_ARGUMENTS: dict[Distribution, frozenset[str]] = {
    Distribution.CONSTANT: frozenset({"value"}),
    Distribution.CATEGORICAL: frozenset({"values", "probabilities"}),
    Distribution.INT_UNIFORM: _MIN_MAX,
    Distribution.UNIFORM: _MIN_MAX,
    Distribution.Q_UNIFORM: _MIN_MAX | {"q"},
    Distribution.LOG_UNIFORM: _MIN_MAX,
    Distribution.LOG_UNIFORM_VALUES: _MIN_MAX,
    Distribution.Q_LOG_UNIFORM: _MIN_MAX | {"q"},
    Distribution.Q_LOG_UNIFORM_VALUES: _MIN_MAX | {"q"},
    Distribution.INV_LOG_UNIFORM: _MIN_MAX,
    Distribution.INV_LOG_UNIFORM_VALUES: _MIN_MAX,
    Distribution.NORMAL: frozenset({"mu", "sigma"}),
    Distribution.Q_NORMAL: frozenset({"mu", "sigma", "q"}),
    Distribution.LOG_NORMAL: frozenset({"mu", "sigma"}),
    Distribution.Q_LOG_NORMAL: frozenset({"mu", "sigma", "q"}),
    Distribution.BETA: frozenset({"a", "b"}),
    Distribution.Q_BETA: frozenset({"a", "b", "q"}),
}
# Distributions whose min/max are values that must be positive (their logs are taken).
_POSITIVE_BOUNDS = frozenset(
    {
        Distribution.LOG_UNIFORM_VALUES,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.INV_LOG_UNIFORM_VALUES,
    }
)
# What grid search can enumerate.
GRID_DISTRIBUTIONS = frozenset(
    {
        Distribution.CONSTANT,
        Distribution.CATEGORICAL,
        Distribution.INT_UNIFORM,
        Distribution.Q_UNIFORM,
    }
)
_FORMAT_HINT = {
    Distribution.CONSTANT: "value: 0.1",
    Distribution.CATEGORICAL: "values: [16, 32, 64]",
    Distribution.INT_UNIFORM: "min: 1, max: 10",
    Distribution.UNIFORM: "min: 0.0, max: 1.0",
    Distribution.Q_UNIFORM: "min: 0, max: 1, q: 0.1",
    Distribution.LOG_UNIFORM: "min: -9.2, max: -2.3 (natural logs of the bounds)",
    Distribution.LOG_UNIFORM_VALUES: "min: 0.0001, max: 0.1",
    Distribution.Q_LOG_UNIFORM: "min: 0, max: 5, q: 1 (natural logs of the bounds)",
    Distribution.Q_LOG_UNIFORM_VALUES: "min: 32, max: 256, q: 8",
    Distribution.INV_LOG_UNIFORM: "min: 0, max: 5 (logs of 1/value)",
    Distribution.INV_LOG_UNIFORM_VALUES: "min: 0.001, max: 1",
}


MAX_NESTING = 16
# Far more than any search uses; bounds the work of every suggestion.
MAX_PARAMETERS = 1_000


def parse_parameters(
    value: Any, field: str, problems: Problems, *, depth: int
) -> dict[str, Parameter | NestedParameters] | None:
    """The parsed `parameters` mapping (None if unusable); problems name each bad field."""
    if value is None:
        problems.add(
            field, "missing; add at least one parameter, e.g. 'lr: {min: 0.001, max: 0.1}'"
        )
        return None
    if not isinstance(value, dict) or not value:
        problems.add(
            field,
            "expected a non-empty mapping of parameter names, e.g. 'lr: {min: 0.001, max: 0.1}'",
        )
        return None
    if depth >= MAX_NESTING:
        problems.add(field, f"nested more than {MAX_NESTING} levels deep; flatten the parameters")
        return None
    out: dict[str, Parameter | NestedParameters] = {}
    for name, spec in value.items():
        here = f"{field}.{name}"
        if not isinstance(name, str) or not name:
            problems.add(here, "a parameter name must be a non-empty string")
            continue
        node = _parse_node(spec, here, problems, depth=depth)
        if node is not None:
            out[name] = node
    return out


def _parse_node(
    spec: Any, field: str, problems: Problems, *, depth: int
) -> Parameter | NestedParameters | None:
    if not isinstance(spec, dict):
        problems.add(
            field,
            "expected a mapping such as '{values: [1, 2]}', '{value: 1}' or '{min: 0, max: 1}'",
        )
        return None
    if "parameters" in spec:
        others = sorted(k for k in spec if k != "parameters")
        if others:
            problems.add(
                field,
                f"a parameter with nested 'parameters' takes no other keys; move {others} "
                "into the nested parameters",
            )
            return None
        nested = parse_parameters(
            spec["parameters"], f"{field}.parameters", problems, depth=depth + 1
        )
        return None if nested is None else NestedParameters(parameters=nested)
    return _parse_leaf(spec, field, problems)


def _infer_distribution(
    spec: dict[str, Any], field: str, problems: Problems
) -> Distribution | None:
    """W&B's inference: value → constant, values → categorical, int min/max → int_uniform."""
    if "value" in spec and "values" in spec:
        problems.add(field, "give either 'value' (a constant) or 'values' (choices), not both")
        return None
    if "value" in spec:
        return Distribution.CONSTANT
    if "values" in spec:
        return Distribution.CATEGORICAL
    if "min" in spec and "max" in spec:
        lo, hi = spec["min"], spec["max"]
        if is_int(lo) and is_int(hi):
            return Distribution.INT_UNIFORM
        return Distribution.UNIFORM
    problems.add(
        field,
        "no distribution: give 'values: [...]', 'value: x', 'min' and 'max', or "
        "'distribution: <name>' with its arguments",
    )
    return None


def _parse_leaf(spec: dict[str, Any], field: str, problems: Problems) -> Parameter | None:
    if "distribution" in spec:
        raw = spec["distribution"]
        try:
            dist = Distribution(raw)
        except ValueError:
            names = ", ".join(d.value for d in Distribution)
            problems.add(
                f"{field}.distribution",
                f"{raw!r} is not a distribution; use one of {names}",
            )
            return None
    else:
        inferred = _infer_distribution(spec, field, problems)
        if inferred is None:
            return None
        dist = inferred
    allowed = _ARGUMENTS[dist] | {"distribution"}
    before = len(problems.items)
    for key in spec:
        if key not in allowed:
            takes = ", ".join(sorted(_ARGUMENTS[dist]))
            problems.add(
                f"{field}.{key}",
                f"distribution {dist.value} does not take {key!r}; it takes {takes}",
            )
    _check_arguments(dist, spec, field, problems)
    if len(problems.items) > before:
        return None
    kwargs = {k: v for k, v in spec.items() if k != "distribution"}
    if dist is Distribution.INT_UNIFORM:
        # YAML may write whole numbers as 1.0; int_uniform's bounds are integers.
        kwargs["min"], kwargs["max"] = int(kwargs["min"]), int(kwargs["max"])
    return Parameter(distribution=dist, **kwargs)


def _check_arguments(
    dist: Distribution, spec: dict[str, Any], field: str, problems: Problems
) -> None:
    if dist is Distribution.CONSTANT:
        if "value" not in spec:
            problems.add(f"{field}.value", "distribution constant needs 'value'; e.g. 'value: 0.1'")
        return
    if dist is Distribution.CATEGORICAL:
        _check_categorical(spec, field, problems)
        return
    before = len(problems.items)
    if _ARGUMENTS[dist] >= _MIN_MAX:
        _check_bounds(dist, spec, field, problems)
    for key in ("q", "sigma", "a", "b"):
        if key in spec and key in _ARGUMENTS[dist]:
            v = spec[key]
            if not is_number(v) or not math.isfinite(v) or v <= 0:
                problems.add(f"{field}.{key}", f"must be a positive number, got {v!r}")
    if "mu" in spec and (not is_number(spec["mu"]) or not math.isfinite(spec["mu"])):
        problems.add(f"{field}.mu", f"must be a number, got {spec['mu']!r}")
    if len(problems.items) == before and dist in _QUANTIZED_BOUNDED:
        _check_some_multiple(dist, spec, field, problems)


# Quantized distributions with bounds: some multiple of q must lie within them.
_QUANTIZED_BOUNDED = frozenset(
    {Distribution.Q_UNIFORM, Distribution.Q_LOG_UNIFORM, Distribution.Q_LOG_UNIFORM_VALUES}
)


def _check_some_multiple(
    dist: Distribution, spec: dict[str, Any], field: str, problems: Problems
) -> None:
    lo, hi, q = spec["min"], spec["max"], spec.get("q", 1)
    if dist is Distribution.Q_LOG_UNIFORM:
        # Bounds are natural logs; exp of a huge bound overflows, and then surely holds a multiple.
        try:
            lo, hi = math.exp(lo), math.exp(hi)
        except OverflowError:
            return
    if math.ceil(lo / q - 1e-9) > math.floor(hi / q + 1e-9):
        problems.add(
            f"{field}.q",
            f"no multiple of q={q!r} lies between the bounds ({lo:g} to {hi:g}); "
            "use a smaller q or a wider range",
        )


def _check_categorical(spec: dict[str, Any], field: str, problems: Problems) -> None:
    values = spec.get("values")
    if not isinstance(values, list) or not values:
        problems.add(
            f"{field}.values",
            "distribution categorical needs a non-empty list of values, e.g. 'values: [16, 32]'",
        )
        return
    probs = spec.get("probabilities")
    if probs is None:
        return
    if not isinstance(probs, list) or len(probs) != len(values):
        problems.add(
            f"{field}.probabilities",
            f"give one probability per value ({len(values)} values)",
        )
        return
    if any(not is_number(p) or p < 0 for p in probs):
        problems.add(f"{field}.probabilities", "every probability must be a number >= 0")
        return
    if not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
        problems.add(f"{field}.probabilities", f"must sum to 1 (they sum to {sum(probs):g})")


def _check_bounds(dist: Distribution, spec: dict[str, Any], field: str, problems: Problems) -> None:
    missing = [k for k in ("min", "max") if k not in spec]
    if missing:
        hint = _FORMAT_HINT.get(dist, "min: 0, max: 1")
        problems.add(
            f"{field}.{missing[0]}",
            f"distribution {dist.value} needs {' and '.join(missing)}; e.g. '{hint}'",
        )
        return
    lo, hi = spec["min"], spec["max"]
    bad = False
    for key, v in (("min", lo), ("max", hi)):
        if not is_number(v) or not math.isfinite(v):
            problems.add(f"{field}.{key}", f"must be a finite number, got {v!r}")
            bad = True
    if bad:
        return
    if dist is Distribution.INT_UNIFORM:
        for key, v in (("min", lo), ("max", hi)):
            if not is_int(v) and not (isinstance(v, float) and v.is_integer()):
                problems.add(
                    f"{field}.{key}",
                    f"int_uniform needs integer bounds, got {v!r}; use whole numbers or "
                    "distribution uniform",
                )
                bad = True
    if dist in _POSITIVE_BOUNDS and lo <= 0:
        problems.add(
            f"{field}.min",
            f"{dist.value} takes logs of its bounds, so min must be > 0 (got {lo!r}); "
            f"e.g. '{_FORMAT_HINT[dist]}'",
        )
        bad = True
    if not bad and lo >= hi:
        problems.add(
            f"{field}.min",
            f"min ({lo!r}) must be less than max ({hi!r}); swap them or widen the range",
        )


def check_grid(
    params: dict[str, Parameter | NestedParameters], field: str, problems: Problems
) -> None:
    """Record each parameter that grid search cannot enumerate."""
    for name, node in params.items():
        here = f"{field}.{name}"
        if isinstance(node, NestedParameters):
            check_grid(node.parameters, f"{here}.parameters", problems)
        elif node.distribution not in GRID_DISTRIBUTIONS:
            problems.add(
                here,
                f"grid search cannot enumerate distribution {node.distribution.value}; "
                "give 'values: [...]' (or int_uniform/q_uniform bounds), or use method "
                "random or bayes",
            )
        elif node.probabilities is not None:
            problems.add(
                f"{here}.probabilities",
                "grid search tries every value once; remove probabilities or use method random",
            )
