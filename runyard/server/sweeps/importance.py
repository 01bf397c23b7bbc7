"""Parameter importance for the sweep page (pure): each parameter's correlation with the
metric, and an importance score from a small random-forest regression fit.

The forest is the usual one (bootstrap samples, regression trees split on variance
reduction, a random subset of parameters tried at each split); a parameter's importance is
the variance reduction its splits bring, summed over the forest and normalised to 1. It is
written here in a few lines instead of adding scikit-learn to the server for one chart; a
sweep page fits at most MAX_ROWS trials, so plain Python is fast enough.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 500
TREES = 40
MAX_DEPTH = 6
MIN_LEAF = 2


@dataclass(frozen=True)
class ParamImportance:
    """One parameter's correlation with the metric (None if either is constant) and its
    random-forest importance (shares summing to 1 over the parameters)."""

    name: str
    correlation: float | None
    importance: float


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as dotted names ({"opt": {"lr": 1}} -> {"opt.lr": 1})."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def encode(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[float]]]:
    """Parameter names and a numeric matrix: numbers as they are, other values (strings,
    booleans, lists) as the index of their text among the parameter's sorted values."""
    names = sorted({name for row in rows for name in row})
    columns: dict[str, list[float]] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if all(_is_number(v) for v in values):
            columns[name] = [float(v) for v in values if v is not None]
        else:
            levels = sorted({repr(v) for v in values})
            columns[name] = [float(levels.index(repr(v))) for v in values]
    matrix = [[columns[name][i] for name in names] for i in range(len(rows))]
    return names, matrix


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation, or None when either side is constant."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def _sse(ys: Sequence[float]) -> float:
    if not ys:
        return 0.0
    mean = sum(ys) / len(ys)
    return sum((y - mean) ** 2 for y in ys)


def _grow(
    matrix: list[list[float]],
    ys: list[float],
    rows: list[int],
    depth: int,
    tried: int,
    rng: random.Random,
    gains: list[float],
) -> None:
    """Split `rows` on the best (feature, threshold) among `tried` random features,
    adding each split's variance reduction to its feature's gain; recurse."""
    if depth >= MAX_DEPTH or len(rows) < 2 * MIN_LEAF:
        return
    parent = _sse([ys[i] for i in rows])
    if parent <= 0:
        return
    features = rng.sample(range(len(gains)), tried)
    best: tuple[float, int, float] | None = None
    for feature in features:
        ordered = sorted(rows, key=lambda i: matrix[i][feature])
        # Running sums make every threshold of a feature one pass.
        left_sum = left_sq = 0.0
        total = sum(ys[i] for i in ordered)
        total_sq = sum(ys[i] ** 2 for i in ordered)
        for k in range(1, len(ordered)):
            y = ys[ordered[k - 1]]
            left_sum += y
            left_sq += y * y
            here, after = matrix[ordered[k - 1]][feature], matrix[ordered[k]][feature]
            if here == after or k < MIN_LEAF or len(ordered) - k < MIN_LEAF:
                continue
            right_n = len(ordered) - k
            sse = (left_sq - left_sum**2 / k) + (
                (total_sq - left_sq) - (total - left_sum) ** 2 / right_n
            )
            gain = parent - sse
            if best is None or gain > best[0]:
                best = (gain, feature, (here + after) / 2)
    if best is None or best[0] <= 0:
        return
    gain, feature, threshold = best
    gains[feature] += gain
    left = [i for i in rows if matrix[i][feature] <= threshold]
    right = [i for i in rows if matrix[i][feature] > threshold]
    _grow(matrix, ys, left, depth + 1, tried, rng, gains)
    _grow(matrix, ys, right, depth + 1, tried, rng, gains)


def forest_importance(matrix: list[list[float]], ys: list[float], seed: int = 0) -> list[float]:
    """Each feature's share of the variance reduction of a random forest fit to `ys`."""
    width = len(matrix[0]) if matrix else 0
    gains = [0.0] * width
    if width == 0 or len(ys) < 2 * MIN_LEAF:
        return gains
    rng = random.Random(seed)
    tried = max(1, math.ceil(width / 3)) if width > 3 else width
    n = len(ys)
    for _ in range(TREES):
        sample = [rng.randrange(n) for _ in range(n)]
        _grow(matrix, ys, sample, 0, tried, rng, gains)
    total = sum(gains)
    return [g / total for g in gains] if total > 0 else gains


def importance(
    trials: Sequence[tuple[dict[str, Any], float]], seed: int = 0
) -> list[ParamImportance]:
    """Correlation and importance of each parameter for (params, metric) pairs, most
    important first (the newest MAX_ROWS pairs)."""
    pairs = [(flatten(p), y) for p, y in trials if _is_number(y)][-MAX_ROWS:]
    if not pairs:
        return []
    names, matrix = encode([p for p, _ in pairs])
    ys = [float(y) for _, y in pairs]
    scores = forest_importance(matrix, ys, seed)
    out = [
        ParamImportance(name, correlation([row[j] for row in matrix], ys), scores[j])
        for j, name in enumerate(names)
    ]
    return sorted(out, key=lambda p: (-p.importance, p.name))
