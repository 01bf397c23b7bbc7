"""The parameter distributions as inverse CDFs over the unit interval, shared by random and bayes.

Random search draws `u ~ U(0, 1)` and returns `ppf(param, u)`; bayes search models `u` (the
"unit" coordinate) and maps it back the same way, so both methods agree on every
distribution's shape. `to_unit` is the inverse, used to place finished trials in that space.
Semantics follow the seeds' table ("Sweep configuration options"); quantized values
`round(X / q) * q` are kept within `[min, max]` where the distribution has bounds.
"""

from __future__ import annotations

import math
from decimal import Decimal
from statistics import NormalDist
from typing import Any

from runyard.server.sweeps.config import Distribution, Parameter

# Unbounded distributions (normal, log-normal) are cut at about +-6 sigma so a unit
# coordinate of exactly 0 or 1 still maps to a finite value.
_EDGE = 1e-9
_STANDARD_NORMAL = NormalDist()
_QUANTIZED = frozenset(
    {
        Distribution.Q_UNIFORM,
        Distribution.Q_LOG_UNIFORM,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.Q_NORMAL,
        Distribution.Q_LOG_NORMAL,
        Distribution.Q_BETA,
    }
)
CONTINUOUS = frozenset(Distribution) - {
    Distribution.CONSTANT,
    Distribution.CATEGORICAL,
    Distribution.INT_UNIFORM,
}


def ppf(param: Parameter, u: float) -> Any:
    """The value at unit coordinate `u` in [0, 1] (the inverse CDF); categoricals pick by `u`."""
    u = min(max(u, 0.0), 1.0)
    dist = param.distribution
    if dist is Distribution.CONSTANT:
        return param.value
    if dist is Distribution.CATEGORICAL:
        return param.values[categorical_index(param, u)]  # type: ignore[index]
    if dist is Distribution.INT_UNIFORM:
        lo, hi = int(param.min), int(param.max)  # type: ignore[arg-type]
        return lo + min(int(u * (hi - lo + 1)), hi - lo)
    x = _continuous_ppf(param, u)
    if dist in _QUANTIZED:
        return quantize(x, param.q, _value_bounds(param))
    return x


def categorical_index(param: Parameter, u: float) -> int:
    """Which of a categorical's values unit coordinate `u` picks (by its probabilities if given)."""
    values = param.values or []
    if param.probabilities is None:
        return min(int(u * len(values)), len(values) - 1)
    acc = 0.0
    for i, p in enumerate(param.probabilities):
        acc += p
        if u < acc:
            return i
    # Rounding in the sum: the last value with a non-zero probability.
    return max(i for i, p in enumerate(param.probabilities) if p > 0)


def _continuous_ppf(param: Parameter, u: float) -> float:
    dist = param.distribution
    lo = float(param.min) if param.min is not None else 0.0
    hi = float(param.max) if param.max is not None else 0.0
    if dist in (Distribution.UNIFORM, Distribution.Q_UNIFORM):
        return lo + u * (hi - lo)
    if dist in (Distribution.LOG_UNIFORM, Distribution.Q_LOG_UNIFORM):
        return math.exp(lo + u * (hi - lo))
    if dist in (
        Distribution.LOG_UNIFORM_VALUES,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.INV_LOG_UNIFORM_VALUES,
    ):
        # inv_log_uniform_values: log(1/X) ~ U(log(1/max), log(1/min)) is the same law as
        # log(X) ~ U(log(min), log(max)).
        return _clamp(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))), lo, hi)
    if dist is Distribution.INV_LOG_UNIFORM:
        # log(1/X) ~ U(min, max); increasing in u like every other ppf here.
        return math.exp(-(hi - u * (hi - lo)))
    edge_u = min(max(u, _EDGE), 1.0 - _EDGE)
    if dist in (Distribution.NORMAL, Distribution.Q_NORMAL):
        return param.mu + param.sigma * _STANDARD_NORMAL.inv_cdf(edge_u)
    if dist in (Distribution.LOG_NORMAL, Distribution.Q_LOG_NORMAL):
        return math.exp(param.mu + param.sigma * _STANDARD_NORMAL.inv_cdf(edge_u))
    if dist in (Distribution.BETA, Distribution.Q_BETA):
        # scipy only here: importing it costs the server's start half a second.
        from scipy import special

        return float(special.betaincinv(param.a, param.b, u))
    raise ValueError(f"not a continuous distribution: {dist}")


def to_unit(param: Parameter, value: Any) -> float | None:
    """The unit coordinate of an observed value of a continuous parameter; None if off-support."""
    if param.distribution not in CONTINUOUS:
        raise ValueError(f"to_unit takes continuous parameters, not {param.distribution}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    x = float(value)
    dist = param.distribution
    lo = float(param.min) if param.min is not None else 0.0
    hi = float(param.max) if param.max is not None else 0.0
    try:
        if dist in (Distribution.UNIFORM, Distribution.Q_UNIFORM):
            u = (x - lo) / (hi - lo)
        elif dist in (Distribution.LOG_UNIFORM, Distribution.Q_LOG_UNIFORM):
            u = (math.log(x) - lo) / (hi - lo)
        elif dist in (
            Distribution.LOG_UNIFORM_VALUES,
            Distribution.Q_LOG_UNIFORM_VALUES,
            Distribution.INV_LOG_UNIFORM_VALUES,
        ):
            u = (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo))
        elif dist is Distribution.INV_LOG_UNIFORM:
            u = (hi + math.log(x)) / (hi - lo)
        elif dist in (Distribution.NORMAL, Distribution.Q_NORMAL):
            u = _STANDARD_NORMAL.cdf((x - param.mu) / param.sigma)
        elif dist in (Distribution.LOG_NORMAL, Distribution.Q_LOG_NORMAL):
            u = _STANDARD_NORMAL.cdf((math.log(x) - param.mu) / param.sigma)
        else:  # beta, q_beta
            from scipy import special

            u = float(special.betainc(param.a, param.b, _clamp(x, 0.0, 1.0)))
    except ValueError:  # log of a non-positive value: not a value this parameter produces
        return None
    if not math.isfinite(u):
        return None
    return _clamp(u, 0.0, 1.0)


def quantize(x: float, q: float, bounds: tuple[float, float] | None = None) -> float | int:
    """`round(x / q) * q`, kept inside `bounds` when a multiple of q lies there; int if q is."""
    k = round(x / q)
    if bounds is not None:
        k_lo = math.ceil(bounds[0] / q - 1e-9)
        k_hi = math.floor(bounds[1] / q + 1e-9)
        if k_lo <= k_hi:
            k = min(max(k, k_lo), k_hi)
    return multiple(k, q)


def multiple(k: int, q: float) -> float | int:
    """`k * q` without binary noise (3 * 0.1 is 0.3, not 0.30000000000000004); int if q is."""
    if isinstance(q, int):
        return k * q
    exponent = Decimal(repr(q)).as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if digits > 15:
        return k * q  # a q this fine has no noise worth rounding away (and rounding would zero it)
    return round(k * q, digits)


def _value_bounds(param: Parameter) -> tuple[float, float] | None:
    """The [min, max] a quantized value must stay in, in value units; None if unbounded."""
    dist = param.distribution
    if dist is Distribution.Q_BETA:
        return (0.0, 1.0)
    if param.min is None or param.max is None:
        return None
    lo, hi = float(param.min), float(param.max)
    if dist is Distribution.Q_UNIFORM or dist is Distribution.Q_LOG_UNIFORM_VALUES:
        return (lo, hi)
    if dist is Distribution.Q_LOG_UNIFORM:
        return (math.exp(lo), math.exp(hi))
    return None


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)
