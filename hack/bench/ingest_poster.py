"""Simulated training clients for bench_ingest.py: posts in the official client's exact format.

`RunyardPoster` creates runs with the client's `upsertBucket` mutation, then posts history
the way wandb-core does: one request in flight per run, HTTP Basic `api:<key>`,
`User-Agent: wandb-core`, a body `{"files": {"wandb-history.jsonl": {"offset", "content"},
"wandb-summary.json": ...}}` of compact JSON lines (`_timestamp`, `_runtime`, `_step`, then
the metrics), and `complete`/`exitcode` on the last post. `MlflowPoster` logs the same
values to an MLflow server through its REST `runs/log-batch` (at most 1,000 metrics a call,
MLflow's limit). Bodies are encoded before the clock starts, so the poster's own work is
only HTTP.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable

import httpx

HISTORY = "wandb-history.jsonl"
SUMMARY = "wandb-summary.json"
MLFLOW_BATCH = 1000  # MLflow refuses more metrics in one log-batch call
MLFLOW_TRIES = 20


def _row(step: int, metrics: int) -> dict[str, float | int]:
    t = 1.79e9 + step * 0.01
    return {
        "_timestamp": t,
        "_runtime": step * 0.01,
        "_step": step,
        **{f"m{j:02d}": step * 0.001 + j for j in range(metrics)},
    }


def _line(row: dict[str, float | int]) -> str:
    return json.dumps(row, separators=(",", ":"))


def runyard_bodies(steps: int, metrics: int, per_post: int) -> list[bytes]:
    """The file_stream posts of one run, encoded."""
    bodies = []
    for start in range(0, steps, per_post):
        rows = [_row(s, metrics) for s in range(start, min(steps, start + per_post))]
        body: dict[str, object] = {
            "files": {
                HISTORY: {"offset": start, "content": [_line(r) for r in rows]},
                SUMMARY: {"offset": 0, "content": [_line(rows[-1])]},
            }
        }
        if start + per_post >= steps:
            body |= {"complete": True, "exitcode": 0}
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def _run_threads(work: list[Callable[[], None]]) -> float:
    """Run each callable in its own thread at once; the wall seconds until all finish."""
    errors: list[BaseException] = []

    def guard(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # reported after join
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(fn,)) for fn in work]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} simulated clients failed: {errors[0]!r}")
    return time.perf_counter() - started


class RunyardPoster:
    """`clients` simulated wandb-core clients, one run each, in project `entity/project`."""

    def __init__(self, url: str, key: str, entity: str, project: str) -> None:
        self.url = url
        self.entity = entity
        self.project = project
        token = base64.b64encode(f"api:{key}".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "User-Agent": "wandb-core",
            "Accept-Encoding": "gzip",
        }

    def create_runs(self, clients: int) -> list[str]:
        """Create the runs as the client's `upsertBucket` does; return their names."""
        query = (
            "mutation UpsertBucket($name: String, $project: String, $entity: String) {"
            " upsertBucket(input: {name: $name, modelName: $project, entityName: $entity})"
            " { bucket { id name } inserted } }"
        )
        names = [f"sim{i:03d}" for i in range(clients)]
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=120) as http:
            for name in names:
                variables = {"name": name, "project": self.project, "entity": self.entity}
                answer = http.post("/graphql", json={"query": query, "variables": variables})
                answer.raise_for_status()
                if answer.json().get("errors"):
                    raise RuntimeError(f"upsertBucket failed: {answer.text[:500]}")
        return names

    def post_all(self, names: list[str], bodies: list[bytes]) -> float:
        """Every run posts `bodies` in order, all runs at once; return the wall seconds."""

        def client(name: str) -> Callable[[], None]:
            def post() -> None:
                path = f"/files/{self.entity}/{self.project}/{name}/file_stream"
                with httpx.Client(base_url=self.url, headers=self.headers, timeout=600) as http:
                    for body in bodies:
                        answer = http.post(path, content=body)
                        if answer.status_code != 200:
                            raise RuntimeError(f"{answer.status_code}: {answer.text[:500]}")

            return post

        return _run_threads([client(name) for name in names])


class MlflowPoster:
    """The same workload logged to an MLflow tracking server through its REST API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.retries = 0  # log-batch calls MLflow refused and that were sent again
        self._lock = threading.Lock()

    def create_runs(self, clients: int) -> list[str]:
        """One experiment and `clients` runs in it; return the run ids."""
        with httpx.Client(base_url=self.url, timeout=120) as http:
            answer = http.post("/api/2.0/mlflow/experiments/create", json={"name": "ingest"})
            answer.raise_for_status()
            experiment = answer.json()["experiment_id"]
            ids = []
            for i in range(clients):
                answer = http.post(
                    "/api/2.0/mlflow/runs/create",
                    json={"experiment_id": experiment, "run_name": f"sim{i:03d}"},
                )
                answer.raise_for_status()
                ids.append(answer.json()["run"]["info"]["run_id"])
        return ids

    @staticmethod
    def bodies(steps: int, metrics: int) -> list[list[dict[str, object]]]:
        """The metric batches of one run (the run id is added per run)."""
        batches: list[list[dict[str, object]]] = []
        batch: list[dict[str, object]] = []
        for step in range(steps):
            timestamp = int((1.79e9 + step * 0.01) * 1000)
            for j in range(metrics):
                batch.append(
                    {"key": f"m{j:02d}", "value": step * 0.001 + j, "timestamp": timestamp}
                    | {"step": step}
                )
                if len(batch) == MLFLOW_BATCH:
                    batches.append(batch)
                    batch = []
        if batch:
            batches.append(batch)
        return batches

    def _log_batch(self, http: httpx.Client, body: bytes) -> None:
        """One log-batch call, retried as MLflow's own client retries (429 and 5xx, backoff):
        its SQLite store answers concurrent writers with 503 "database is locked"."""
        delay = 0.1
        for _ in range(MLFLOW_TRIES):
            answer = http.post("/api/2.0/mlflow/runs/log-batch", content=body)
            if answer.status_code == 200:
                return
            if answer.status_code != 429 and answer.status_code < 500:
                break
            with self._lock:
                self.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise RuntimeError(f"{answer.status_code}: {answer.text[:500]}")

    def post_all(self, run_ids: list[str], batches: list[list[dict[str, object]]]) -> float:
        """Every run logs all batches in order, all runs at once; return the wall seconds."""
        encoded = {
            run_id: [json.dumps({"run_id": run_id, "metrics": b}).encode() for b in batches]
            for run_id in run_ids
        }

        def client(run_id: str) -> Callable[[], None]:
            def post() -> None:
                headers = {"Content-Type": "application/json"}
                with httpx.Client(base_url=self.url, headers=headers, timeout=600) as http:
                    for body in encoded[run_id]:
                        self._log_batch(http, body)
                    finished = {"run_id": run_id, "status": "FINISHED"}
                    http.post("/api/2.0/mlflow/runs/update", json=finished).raise_for_status()

            return post

        return _run_threads([client(run_id) for run_id in run_ids])
