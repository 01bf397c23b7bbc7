"""Grid search by index arithmetic: a grid point is a mixed-radix number over the parameters.

Points are numbered with parameters sorted by name and the last varying fastest (as W&B's
`itertools.product`). A suggestion never lists the grid: it maps each trial to its index,
then takes the smallest index not taken, so its cost grows with the trials, not the grid.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from runyard.server.sweeps.config import Distribution, Parameter, SweepConfig
from runyard.server.sweeps.distributions import multiple
from runyard.server.sweeps.trials import (
    Suggestion,
    Trial,
    get_path,
    is_missing,
    set_path,
    value_key,
)

# How many times a point whose run crashed is offered in all: the first run and one retry.
MAX_CRASHES_PER_POINT = 2


class _Values:
    """A dimension listing its values (categorical); repeated values count once."""

    def __init__(self, values: list[Any]) -> None:
        self.values: list[Any] = []
        self.index: dict[Hashable, int] = {}
        for v in values:
            key = value_key(v)
            if key not in self.index:
                self.index[key] = len(self.values)
                self.values.append(v)
        self.size = len(self.values)

    def value_at(self, i: int) -> Any:
        return self.values[i]

    def index_of(self, value: Any) -> int | None:
        return self.index.get(value_key(value))


class _IntRange:
    """int_uniform: every integer from min to max, both included."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.size = lo, hi - lo + 1

    def value_at(self, i: int) -> Any:
        return self.lo + i

    def index_of(self, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if isinstance(value, float) and not value.is_integer():
            return None
        i = int(value) - self.lo
        return i if 0 <= i < self.size else None


class _Multiples:
    """q_uniform: every multiple of q within [min, max]."""

    def __init__(self, lo: float, hi: float, q: float) -> None:
        self.q = q
        self.k_lo = math.ceil(lo / q - 1e-9)
        self.size = max(0, math.floor(hi / q + 1e-9) - self.k_lo + 1)

    def value_at(self, i: int) -> Any:
        return multiple(self.k_lo + i, self.q)

    def index_of(self, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        k = round(value / self.q)
        if abs(k * self.q - value) > 1e-9 * max(1.0, abs(value)):
            return None
        i = k - self.k_lo
        return i if 0 <= i < self.size else None


_Dim = _Values | _IntRange | _Multiples


@dataclass(frozen=True)
class Grid:
    """The grid of a config: its searched dimensions (with paths) and constants."""

    paths: tuple[tuple[str, ...], ...]
    dims: tuple[_Dim, ...]
    constants: tuple[tuple[tuple[str, ...], Any], ...]

    @property
    def size(self) -> int:
        """How many points the grid has."""
        return math.prod(d.size for d in self.dims)

    def point(self, index: int) -> dict[str, Any]:
        """The nested parameters of point `index` (0 <= index < size)."""
        params: dict[str, Any] = {}
        digits: list[Any] = []
        for dim in reversed(self.dims):
            index, digit = divmod(index, dim.size)
            digits.append(dim.value_at(digit))
        for path, value in zip(self.paths, reversed(digits), strict=True):
            set_path(params, path, value)
        for path, value in self.constants:
            set_path(params, path, value)
        return params

    def index_of(self, params: dict[str, Any]) -> int | None:
        """The index of the point these parameters are, or None if they are off the grid."""
        index = 0
        for path, dim in zip(self.paths, self.dims, strict=True):
            value = get_path(params, path)
            if is_missing(value):
                return None
            digit = dim.index_of(value)
            if digit is None:
                return None
            index = index * dim.size + digit
        return index


def build_grid(config: SweepConfig) -> Grid:
    """The grid of a grid-search config (its parameters were checked to be enumerable)."""
    paths: list[tuple[str, ...]] = []
    dims: list[_Dim] = []
    constants: list[tuple[tuple[str, ...], Any]] = []
    for path, param in config.leaves():
        if param.distribution is Distribution.CONSTANT:
            constants.append((path, param.value))
            continue
        paths.append(path)
        dims.append(_dimension(param))
    return Grid(tuple(paths), tuple(dims), tuple(constants))


def _dimension(param: Parameter) -> _Dim:
    dist = param.distribution
    if dist is Distribution.CATEGORICAL:
        return _Values(param.values or [])
    if dist is Distribution.INT_UNIFORM:
        return _IntRange(int(param.min), int(param.max))  # type: ignore[arg-type]
    if dist is Distribution.Q_UNIFORM:
        return _Multiples(float(param.min), float(param.max), param.q)  # type: ignore[arg-type]
    raise ValueError(f"grid search cannot enumerate {dist.value}")


def next_grid_point(config: SweepConfig, trials: Sequence[Trial]) -> Suggestion | None:
    """The first point no trial holds (a point whose run crashed once is free again), or None."""
    grid = build_grid(config)
    taken: set[int] = set()
    crashes: Counter[int] = Counter()
    for trial in trials:
        index = grid.index_of(trial.params)
        if index is None:
            continue
        if trial.crashed:
            crashes[index] += 1
        else:
            taken.add(index)
    taken.update(i for i, n in crashes.items() if n >= MAX_CRASHES_PER_POINT)
    # The smallest free index: at most len(taken) + 1 probes, whatever the grid's size.
    index = 0
    while index in taken:
        index += 1
    if index >= grid.size:
        return None
    return Suggestion(params=grid.point(index), grid_index=index)
