"""Launch queue speed, per store: enqueue -> claim latency and claim throughput.

Usage: python hack/bench/bench_queue.py [--stores sqlite,postgres,redis] [--latency-items 300]
       [--pending 100000] [--claimers 8] [--seconds 10]

1. Latency (HTTP, end to end): one agent waits in a long-poll claim; the time from sending
   an enqueue to receiving the claimed item. Targets: p50 < 20 ms.
2. Throughput (the store itself, as the server calls it): `--claimers` threads claiming from
   a queue holding `--pending` items for `--seconds`. Target: >= 1,000 claims/s.
"""

from __future__ import annotations

import argparse
import queue as threading_queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).parent))

from common import REDIS_URL, percentile, postgres_database, server
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from runyard.launch.models import (
    EnqueueRequest,
    ItemState,
    Priority,
    QueueItem,
    QueueSpec,
    Requirements,
)
from runyard.launch.queue.redis_store import RedisQueueStore
from runyard.launch.queue.sql import METADATA, SqlQueueStore, items_table
from runyard.launch.queue.store import QueueStore
from runyard.server.db.engine import make_engine


def enqueue_to_claim_ms(store_name: str, items: int) -> list[float]:
    """Latency of each item from enqueue sent to claim answered, through a live server."""
    with server(store_name) as srv, srv.api() as api:
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        # kubernetes: an item there needs no entry point (nothing runs it here anyway).
        body = {"name": queue, "entity": "admin", "resource": "kubernetes"}
        api.post("/api/v1/queues", json=body).raise_for_status()
        claimed: threading_queue.Queue[float] = threading_queue.Queue()
        stop = threading.Event()

        def agent() -> None:
            with srv.api() as agent_api:
                while not stop.is_set():
                    body = {"agent_id": "bench", "queues": [f"admin/{queue}"], "wait": 5}
                    try:
                        item = agent_api.post("/api/v1/agents/claim", json=body).json()
                    except (httpx.HTTPError, ValueError):
                        return  # the server is stopping at the end of the run
                    if item is not None:
                        claimed.put(time.perf_counter())

        thread = threading.Thread(target=agent, daemon=True)
        thread.start()
        time.sleep(0.5)
        out = []
        for _ in range(items):
            started = time.perf_counter()
            api.post(f"/api/v1/queues/admin/{queue}/items", json={}).raise_for_status()
            out.append((claimed.get(timeout=30) - started) * 1000)
        stop.set()
        return out


@contextmanager
def bare_store(name: str) -> Iterator[QueueStore]:
    """A store straight on its backend, as the server holds it."""
    if name == "redis":
        prefix = f"runyard-bench:{uuid.uuid4().hex}:"
        yield RedisQueueStore.from_url(REDIS_URL, prefix)
        client = redis.Redis.from_url(REDIS_URL)
        for batch in _chunks(list(client.scan_iter(match=prefix + "*", count=10_000)), 10_000):
            client.delete(*batch)
        return
    if name == "sqlite":
        with _tmp_sqlite() as url:
            engine = make_engine(url)
            METADATA.create_all(engine)
            yield SqlQueueStore(engine)
            engine.dispose()
        return
    with postgres_database() as url:
        engine = make_engine(url)
        METADATA.create_all(engine)
        yield SqlQueueStore(engine)
        engine.dispose()


@contextmanager
def _tmp_sqlite() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="runyard-bench-queue-") as tmp:
        yield f"sqlite:///{tmp}/queue.db"


def _chunks(values: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def seed(store: QueueStore, name: str, pending: int) -> list:  # type: ignore[type-arg]
    """Create a queue holding `pending` items (bulk-inserted on SQL, enqueued on Redis)."""
    now = datetime.now(UTC)
    queue = store.create_queue(QueueSpec(name=f"bench-{name}", entity="bench"), now)
    if isinstance(store, SqlQueueStore):
        rows = []
        for i in range(pending):
            item = QueueItem(
                id=uuid.uuid4().hex,
                queue=queue.name,
                entity=queue.entity,
                priority=Priority(i % 4),
                run_spec={},
                template_values={},
                rendered_config={},
                requirements=Requirements(gpus=0),
                state=ItemState.PENDING,
                state_times={"pending": now},
                created_at=now,
            )
            rows.append(
                {
                    "id": item.id,
                    "queue_id": queue.id,
                    "priority": int(item.priority),
                    "state": "pending",
                    "gpus": 0,
                    "attempts": 0,
                    "document": item.model_dump(mode="json"),
                }
            )
        with store.engine.begin() as conn:
            for start in range(0, pending, 5000):
                conn.execute(insert(items_table), rows[start : start + 5000])
    else:
        for i in range(pending):
            store.enqueue(
                queue, EnqueueRequest(priority=Priority(i % 4)), {}, {}, Requirements(gpus=0), now
            )
    return [queue]


def claims_per_second(name: str, pending: int, claimers: int, seconds: float) -> float:
    """Claims per second by `claimers` threads over `seconds`."""
    with bare_store(name) as store:
        queues = seed(store, name, pending)
        counts = [0] * claimers
        deadline = time.perf_counter() + seconds

        def claimer(slot: int) -> None:
            while time.perf_counter() < deadline:
                if store.claim(queues, f"agent-{slot}", None, True, datetime.now(UTC)) is None:
                    return
                counts[slot] += 1

        threads = [threading.Thread(target=claimer, args=(i,)) for i in range(claimers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    """Parse flags, run, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--stores", default="sqlite,postgres,redis")
    parser.add_argument("--latency-items", type=int, default=300)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--claimers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    table = Table(title="Launch queue: enqueue -> claim latency (HTTP) and claims/s (store)")
    for column in ("store", "enqueue->claim p50 ms", "p99 ms", "claims/s", "setup"):
        table.add_column(column)
    for name in args.stores.split(","):
        latencies = enqueue_to_claim_ms(name, args.latency_items)
        rate = claims_per_second(name, args.pending, args.claimers, args.seconds)
        table.add_row(
            name,
            f"{percentile(latencies, 50):.1f}",
            f"{percentile(latencies, 99):.1f}",
            f"{rate:,.0f}",
            f"{args.claimers} claimers, {args.pending:,} pending",
        )
        print(f"[{name}] done", file=sys.stderr)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
