"""Hyperband early termination with W&B's semantics: which running runs to stop now.

Brackets ("bands") are counts of logged metric values, not step numbers:
- `min_iter: m` gives `m, m*eta, m*eta**2, ...`;
- `max_iter: M, s: S` gives `M/eta, M/eta**2, ...` (S of them, while >= 1), ascending.
At each band the threshold is the value ranked `int(len/eta)` (0-based, best first) among the
values every run of the sweep logged at that band (finished or not), so about the best
`1/eta` of runs lie at or below it. A running run is measured at the highest band it has
reached: by its best value so far (the default), or by its value at that band (`strict`), and
is stopped when that is worse than the band's threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from runyard.server.sweeps.config import Goal, Hyperband, SweepConfig
from runyard.server.sweeps.trials import TrialState

# W&B computes at most 100 min_iter bands; any history is far shorter than that.
MAX_BANDS = 100


class RunHistory(BaseModel):
    """One run of the sweep: its state and the sweep metric's values in the order logged."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    state: str
    values: list[float | None]

    def valid_values(self) -> list[float]:
        """The logged values that are finite numbers (None, NaN and inf are skipped)."""
        return [float(v) for v in self.values if v is not None and math.isfinite(v)]


@dataclass(frozen=True)
class StopDecision:
    """Why a run is stopped: its band, the value compared and the band's threshold."""

    run_id: str
    band: int
    value: float  # in the metric's own units, as are thresholds
    threshold: float

    def reason(self, metric: str, goal: Goal) -> str:
        """A line for the run's log and the sweep page."""
        worse = "above" if goal is Goal.MINIMIZE else "below"
        return (
            f"hyperband stopped the run at band {self.band}: {metric}={self.value:g} is "
            f"{worse} the band's threshold {self.threshold:g}"
        )


def hyperband_bands(hb: Hyperband, longest: int) -> list[int]:
    """The bands, ascending, up to the first one beyond `longest` logged values."""
    bands: list[int] = []
    if hb.max_iter is not None:
        band = float(hb.max_iter)
        for _ in range(hb.s or 0):
            band /= hb.eta
            if band < 1:
                break
            bands.append(int(band))
        return sorted(bands)
    band = float(hb.min_iter or 1)
    for _ in range(MAX_BANDS):
        bands.append(int(band))
        if int(band) > longest:
            break
        band *= hb.eta
    return bands


def hyperband_decisions(config: SweepConfig, histories: Sequence[RunHistory]) -> list[StopDecision]:
    """The running runs hyperband stops now, each with its band, value and threshold."""
    hb, metric = config.early_terminate, config.metric
    if hb is None or metric is None:
        return []
    sign = -1.0 if metric.goal is Goal.MAXIMIZE else 1.0
    # In "smaller is better" units, so one comparison serves both goals.
    series = {h.run_id: [sign * v for v in h.valid_values()] for h in histories}
    longest = max((len(s) for s in series.values()), default=0)
    bands = hyperband_bands(hb, longest)
    keep = 1.0 / hb.eta
    thresholds: list[float] = []
    for band in bands:
        at_band = sorted(s[band - 1] for s in series.values() if len(s) >= band)
        thresholds.append(at_band[int(keep * len(at_band))] if at_band else math.inf)

    decisions: list[StopDecision] = []
    for h in histories:
        if h.state.lower() != TrialState.RUNNING:
            continue
        values = series[h.run_id]
        reached = [(b, t) for b, t in zip(bands, thresholds, strict=True) if b <= len(values)]
        if not reached:
            continue
        band, threshold = reached[-1]
        value = values[band - 1] if hb.strict else min(values)
        if value > threshold:
            decisions.append(StopDecision(h.run_id, band, sign * value, sign * threshold))
    return decisions


def runs_to_stop(config: SweepConfig, histories: Sequence[RunHistory]) -> set[str]:
    """The ids of the running runs that hyperband stops now (empty without early_terminate)."""
    return {d.run_id for d in hyperband_decisions(config, histories)}
