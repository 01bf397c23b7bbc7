"""Sweep suggestion latency, p50/p99: bayes with 1,000 finished trials, grid with 100,000 points.

Usage: python hack/bench/bench_sweeps.py [--repeat 50] [--bayes-trials 1000]

Pure engine calls (`runyard.server.sweeps.suggest`), no server: each call gets every trial
of the sweep, as the controller passes them. Grid is timed at several fill levels, since a
suggestion maps each trial to its grid index (its cost grows with the trials, not the grid).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import percentile
from rich.console import Console
from rich.table import Table

from runyard.server.sweeps import Trial, parse_sweep_config, suggest
from runyard.server.sweeps.grid import build_grid

BAYES = {
    "method": "bayes",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "dropout": {"distribution": "q_uniform", "min": 0.0, "max": 0.5, "q": 0.05},
        "batch_size": {"values": [16, 32, 64, 128]},
        "layers": {"min": 1, "max": 8},
        "optimizer": {"parameters": {"momentum": {"min": 0.8, "max": 0.99}}},
    },
}
# 10 ** 5 points: five parameters of ten values.
GRID = {
    "method": "grid",
    "parameters": {f"p{i}": {"values": list(range(10))} for i in range(5)},
}


def _loss(params: dict) -> float:
    return (math.log10(params["lr"]) + 3) ** 2 + params["dropout"] + 0.1 * params["layers"]


def _time(call: Callable[[int], object], repeat: int) -> list[str]:
    """Wall and CPU milliseconds, p50 and p99 (CPU time shows the cost on a loaded machine)."""
    wall, cpu = [], []
    for i in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        call(i)
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return [f"{percentile(x, q):.2f}" for x in (wall, cpu) for q in (50, 99)]


def main() -> None:
    """Time the suggestions and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--bayes-trials", type=int, default=1000)
    args = parser.parse_args()
    table = Table(title="Sweep suggestion latency (ms)")
    for col in ("case", "trials", "wall p50", "wall p99", "CPU p50", "CPU p99"):
        table.add_column(col)

    bayes = parse_sweep_config(BAYES)
    rng = random.Random(0)
    trials = []
    for i in range(args.bayes_trials):
        s = suggest(
            parse_sweep_config({**BAYES, "method": "random"}), [], seed=rng.randrange(1 << 30)
        )
        assert s is not None
        trials.append(
            Trial(params=s.params, state="finished", metric=_loss(s.params), run_id=str(i))
        )
    suggest(bayes, trials[:10], seed=0)  # import Optuna before timing
    figures = _time(lambda i: suggest(bayes, trials, seed=i), args.repeat)
    table.add_row("bayes (TPE), finished trials", f"{len(trials):,}", *figures)
    running = trials + [
        Trial(params=t.params, state="running", run_id=f"r{i}") for i, t in enumerate(trials[:8])
    ]
    figures = _time(lambda i: suggest(bayes, running, seed=i), args.repeat)
    table.add_row("bayes (TPE), + 8 running", f"{len(running):,}", *figures)

    grid = parse_sweep_config(GRID)
    size = build_grid(grid).size
    points = build_grid(grid)
    for taken in (0, 1_000, 10_000, size - 1):
        held = [Trial(params=points.point(i), state="finished", metric=1.0) for i in range(taken)]
        repeat = args.repeat if taken <= 10_000 else max(5, args.repeat // 5)
        figures = _time(lambda _i, held=held: suggest(grid, held), repeat)
        table.add_row(f"grid, {size:,} points", f"{taken:,}", *figures)
    assert (
        suggest(grid, [Trial(params=points.point(i), state="running") for i in range(size)]) is None
    )

    Console().print(table)


if __name__ == "__main__":
    main()
