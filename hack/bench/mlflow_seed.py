"""Log the benchmark workspace into an MLflow tracking server (run with MLflow's own Python).

Usage: <mlflow venv>/bin/python hack/bench/mlflow_seed.py URL RUNS METRICS STEPS
           [--store sqlite:///path/mlflow.db] [--first-run 0] [--experiment ID]
The same values bench_ui.py seeds into Runyard: run r, metric `train|val/m<m>`, value
random.Random(r).random() / (step + 1) in row order; prints `EXPERIMENT <id>`.

Runs, their `lr` param and their end state go through the server's REST API (MlflowClient).
The metric values go one of two ways:
- `--store URL` (bulk): straight into the server's database through MLflow's own table
  definitions (`SqlMetric`, `SqlLatestMetric`): what `SqlAlchemyStore.log_batch` writes, as
  plain executemany inserts in one transaction per run. Runyard's seed (seed.py) bypasses its
  API in the same way, so both sides are seeded alike.
- no `--store`: `log_batch` over REST, 1,000 values a call (MLflow's limit): the path a user's
  client takes, one HTTP call and one server transaction per 1,000 values (2,000 calls at
  bench_ui's default size).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator

from mlflow.entities import Metric, Param
from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric
from mlflow.tracking import MlflowClient
from sqlalchemy import Engine, create_engine, event, insert

BATCH = 1000  # MLflow's log_batch limit on metrics per call
INSERT_CHUNK = 50_000


def metric_keys(metrics: int) -> list[str]:
    """The benchmark's metric names, as bench_ui.py names them."""
    return [f"{['train', 'val'][m % 2]}/m{m}" for m in range(metrics)]


def run_values(r: int, keys: list[str], steps: int) -> Iterator[tuple[int, str, float]]:
    """(step, key, value) of run `r` in row order: the same random stream as Runyard's seed."""
    rng = random.Random(r)
    for s in range(steps):
        for k in keys:
            yield s, k, rng.random() / (s + 1)


def log_over_rest(
    client: MlflowClient, rid: str, values: Iterator[tuple[int, str, float]], now: int
) -> None:
    """`log_batch` calls of at most BATCH values, as an MLflow client would send them."""
    batch: list[Metric] = []
    for s, k, v in values:
        batch.append(Metric(k, v, now + s, s))
        if len(batch) == BATCH:
            client.log_batch(rid, metrics=batch)
            batch = []
    if batch:
        client.log_batch(rid, metrics=batch)


def insert_bulk(
    engine: Engine, rid: str, values: Iterator[tuple[int, str, float]], now: int
) -> None:
    """The rows `log_batch` would add to `metrics` and `latest_metrics`, in one transaction."""
    latest: dict[str, dict[str, object]] = {}
    with engine.begin() as conn:
        chunk: list[dict[str, object]] = []
        for s, k, v in values:
            row = {
                "key": k,
                "value": v,
                "timestamp": now + s,
                "step": s,
                "is_nan": False,
                "run_uuid": rid,
            }
            chunk.append(row)
            latest[k] = row  # steps ascend: the last row of a key is its latest
            if len(chunk) == INSERT_CHUNK:
                conn.execute(insert(SqlMetric.__table__), chunk)
                chunk = []
        if chunk:
            conn.execute(insert(SqlMetric.__table__), chunk)
        if latest:
            conn.execute(insert(SqlLatestMetric.__table__), list(latest.values()))


def sqlite_engine(url: str) -> Engine:
    """An engine on the server's SQLite file that waits for the server's own writes."""
    engine = create_engine(url, connect_args={"timeout": 120})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: object, _record: object) -> None:
        cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
        cur.execute("PRAGMA synchronous=OFF")  # a benchmark seed: durability is not the point
        cur.close()

    return engine


def main() -> None:
    """Create experiment `ws` (or use `--experiment`) and its runs; print `EXPERIMENT <id>`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("runs", type=int)
    parser.add_argument("metrics", type=int)
    parser.add_argument("steps", type=int)
    parser.add_argument("--store", help="the server's backend store URL: insert values in bulk")
    parser.add_argument("--first-run", type=int, default=0, help="number of the first run")
    parser.add_argument("--experiment", help="add runs to this experiment id")
    args = parser.parse_args()
    client = MlflowClient(tracking_uri=args.url)
    experiment = args.experiment or client.create_experiment("ws")
    keys = metric_keys(args.metrics)
    engine = sqlite_engine(args.store) if args.store else None
    now = int(time.time() * 1000)
    for r in range(args.first_run, args.first_run + args.runs):
        run = client.create_run(experiment, run_name=f"run{r:03d}")
        rid = run.info.run_id
        client.log_batch(rid, params=[Param("lr", str([0.01, 0.001][r % 2]))])
        values = run_values(r, keys, args.steps)
        if engine is None:
            log_over_rest(client, rid, values, now)
        else:
            insert_bulk(engine, rid, values, now)
        client.set_terminated(rid)
    print(f"EXPERIMENT {experiment}", flush=True)


if __name__ == "__main__":
    main()
