"""Log the benchmark workspace into an MLflow tracking server (run with MLflow's own Python).

Usage: <mlflow venv>/bin/python hack/bench/mlflow_seed.py URL RUNS METRICS STEPS
The same values bench_ui.py seeds into Runyard: run r, metric `train|val/m<m>`, value
random.Random(r).random() / (step + 1) in row order; prints the experiment id.
"""

from __future__ import annotations

import random
import sys
import time

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

BATCH = 1000  # MLflow's log_batch limit on metrics per call


def main() -> None:
    """Create experiment `ws` and its runs; print `EXPERIMENT <id>`."""
    url, runs, metrics, steps = sys.argv[1], *(int(a) for a in sys.argv[2:5])
    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment("ws")
    keys = [f"{['train', 'val'][m % 2]}/m{m}" for m in range(metrics)]
    now = int(time.time() * 1000)
    for r in range(runs):
        rng = random.Random(r)
        run = client.create_run(experiment, run_name=f"run{r:03d}")
        rid = run.info.run_id
        client.log_batch(rid, params=[Param("lr", str([0.01, 0.001][r % 2]))])
        batch: list[Metric] = []
        for s in range(steps):
            for k in keys:
                batch.append(Metric(k, rng.random() / (s + 1), now + s, s))
                if len(batch) == BATCH:
                    client.log_batch(rid, metrics=batch)
                    batch = []
        if batch:
            client.log_batch(rid, metrics=batch)
        client.set_terminated(rid)
    print(f"EXPERIMENT {experiment}", flush=True)


if __name__ == "__main__":
    main()
