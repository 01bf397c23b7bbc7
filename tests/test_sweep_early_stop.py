"""Hyperband early termination on synthetic histories: the bands W&B documents, and exactly
the running runs that are worse than their band's threshold are stopped."""

from __future__ import annotations

import math

import pytest

from runyard.server.sweeps import RunHistory, parse_sweep_config, runs_to_stop
from runyard.server.sweeps.config import Goal
from runyard.server.sweeps.early_stop import hyperband_bands, hyperband_decisions


def _config(goal: str = "minimize", **early: object):
    return parse_sweep_config(
        {
            "method": "random",
            "metric": {"name": "loss", "goal": goal},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "early_terminate": {"type": "hyperband", **early},
        }
    )


def test_bands_follow_the_seeds_examples() -> None:
    # The seeds: max_iter 27, s 2 (eta 3) -> [27/eta, 27/eta/eta] = [9, 3].
    hb = _config(max_iter=27, s=2).early_terminate
    assert hb is not None and hyperband_bands(hb, longest=100) == [3, 9]
    # min_iter 3 -> [3, 3*eta, 3*eta*eta, 3*eta*eta*eta] = [3, 9, 27, 81] (and on).
    hb = _config(min_iter=3).early_terminate
    assert hb is not None and hyperband_bands(hb, longest=100)[:5] == [3, 9, 27, 81, 243]
    hb = _config(max_iter=5, eta=2, s=2).early_terminate
    assert hb is not None and hyperband_bands(hb, longest=100) == [1, 2]
    assert hb.strict is False, "the seeds: strict defaults to false"


HISTORIES = {
    # run id: (state, logged loss values)
    "f1": ("finished", [5, 4, 3, 2]),
    "f2": ("finished", [6, 5, 4, 4]),
    "f3": ("finished", [9, 8, 8, 8]),  # worse than any threshold, but already ended
    "r_bad": ("running", [7, 9]),  # band 2: best 7 > threshold 6
    "r_good": ("running", [4, 3]),  # band 2: best 3 <= 6
    "r_mid": ("running", [8, 6, 5, 4.5]),  # band 4: best 4.5 == threshold 4.5, kept
    "r_new": ("running", [100]),  # has not reached the first band
    "r_nan": ("running", [None, math.nan, 50, 60]),  # invalid values skipped: band 2, 50 > 6
}
# Band 2 (min_iter 2, eta 2) values: 4 5 8 9 3 6 60 -> sorted index int(7/2)=3 -> 6.
# Band 4 values: 2 4 8 4.5 -> sorted index int(4/2)=2 -> 4.5.


def _histories(sign: float = 1.0) -> list[RunHistory]:
    return [
        RunHistory(
            run_id=run_id,
            state=state,
            values=[None if v is None else sign * v for v in values],
        )
        for run_id, (state, values) in HISTORIES.items()
    ]


def test_hyperband_stops_exactly_the_runs_below_their_band() -> None:
    config = _config(min_iter=2, eta=2)
    assert runs_to_stop(config, _histories()) == {"r_bad", "r_nan"}
    decisions = {d.run_id: d for d in hyperband_decisions(config, _histories())}
    assert (decisions["r_bad"].band, decisions["r_bad"].value, decisions["r_bad"].threshold) == (
        2,
        7,
        6,
    )
    reason = decisions["r_bad"].reason("loss", Goal.MINIMIZE)
    assert "band 2" in reason and "loss=7" in reason and "threshold 6" in reason


def test_hyperband_maximize_mirrors_minimize() -> None:
    config = _config(goal="maximize", min_iter=2, eta=2)
    assert runs_to_stop(config, _histories(sign=-1.0)) == {"r_bad", "r_nan"}
    d = next(d for d in hyperband_decisions(config, _histories(sign=-1.0)) if d.run_id == "r_bad")
    assert (d.value, d.threshold) == (-7, -6), "reported in the metric's own units"


def test_strict_compares_the_value_at_the_band_not_the_best_so_far() -> None:
    histories = [
        RunHistory(run_id="f1", state="finished", values=[5, 4, 3, 2]),
        RunHistory(run_id="f2", state="finished", values=[6, 5, 4, 4]),
        RunHistory(run_id="f3", state="finished", values=[9, 8, 8, 8]),
        # Good early, worse later. Band 4 values 2 4 8 9 -> threshold 8.
        RunHistory(run_id="dip", state="running", values=[2, 2, 9, 9]),
    ]
    assert runs_to_stop(_config(min_iter=2, eta=2), histories) == set()
    assert runs_to_stop(_config(min_iter=2, eta=2, strict=True), histories) == {"dip"}


def test_max_iter_bands_and_no_early_terminate() -> None:
    # max_iter 5, eta 2, s 2 -> bands [1, 2]. Band 2 values 9 10 8 7 6 -> threshold 8.
    histories = [
        RunHistory(run_id="a", state="finished", values=[10, 9]),
        RunHistory(run_id="b", state="running", values=[10, 10]),
        RunHistory(run_id="c", state="running", values=[10, 8, 8]),
        RunHistory(run_id="d", state="running", values=[10, 7, 7]),
        RunHistory(run_id="e", state="finished", values=[10, 6, 6]),
    ]
    assert runs_to_stop(_config(max_iter=5, eta=2, s=2), histories) == {"b"}
    plain = parse_sweep_config({"method": "random", "parameters": {"x": {"values": [1]}}})
    assert runs_to_stop(plain, histories) == set()


@pytest.mark.parametrize("state", ["pending", "crashed", "failed"])
def test_only_running_runs_are_stopped(state: str) -> None:
    histories = [
        RunHistory(run_id="good", state="finished", values=[1, 1]),
        RunHistory(run_id="x", state=state, values=[9, 9]),
    ]
    assert runs_to_stop(_config(min_iter=1, eta=2), histories) == set()
