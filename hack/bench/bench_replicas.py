"""Server replicas on one PostgreSQL database and one Redis: cross-replica wake-ups, scale-out.

Usage: python hack/bench/bench_replicas.py [--bus redis|postgres] [--wakeups 200]
       [--items 2000] [--claimers 12] [--producers 6] [--events 60] [--before OLD_CHECKOUT]
       [--only events]

1. Claim wake-up latency across replicas: an agent waits in a long-poll claim on replica A;
   the time from sending an enqueue to replica B to receiving the claimed item on A (p50,
   p99); the same with both on A for comparison. Claims re-check only every 30 s here, so
   every answer is a wake-up over the bus.
2. Queue throughput, 3 replicas against 1 (enqueue -> claim, HTTP end to end): producers
   enqueue `--items` items while claimers long-poll; items/s from the first enqueue to the
   last claim. Producers and claimers are spread round-robin over the replicas.
3. Event dispatcher wake-up across replicas: replica W writes automation events but does not
   deliver them (RUNYARD_EVENTS_DISPATCH=false), replica D delivers with its default poll.
   A file_stream post crossing a metric threshold makes one webhook; the time from the post's
   answer (its transaction committed) to the webhook's arrival at a local receiver (p50, p99),
   posted to D itself and to W. `--before` runs the same servers from an older checkout
   (PYTHONPATH) for a before/after table in one run.

Figures depend on the cores the machine gives the replicas: on a 2-core machine three
replicas share the same two cores as one, so expect no gain there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).parent))

from bench_events import SCALE, Arrivals, _setup
from common import ADMIN_KEY, REDIS_URL, ServerProcess, percentile, postgres_database
from rich.console import Console
from rich.table import Table


@contextmanager
def replicas(count: int, bus: str) -> Iterator[list[ServerProcess]]:
    """`count` server processes on a fresh database (and Redis prefix)."""
    env = {
        "RUNYARD_REPLICAS": str(max(count, 1)),
        "RUNYARD_SIGNING_SECRET": secrets.token_hex(32),
        "RUNYARD_SECRETS_KEY": Fernet.generate_key().decode(),
        "RUNYARD_CLAIM_RECHECK_S": "30",
        "RUNYARD_BUS": bus,
        "RUNYARD_QUEUE_REDIS_URL": REDIS_URL,
        "RUNYARD_QUEUE_REDIS_PREFIX": f"runyard-bench:{uuid.uuid4().hex}:",
    }
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runyard-bench-")))
        servers: list[ServerProcess] = []
        try:
            for index in range(count):
                servers.append(ServerProcess(tmp / f"r{index}", url, env, ready_timeout_s=300))
            yield servers
        finally:
            for server in servers:
                server.stop()


def _client(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
    )


async def _queue(server: ServerProcess) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    async with _client(server) as api:
        body = {"name": name, "entity": "admin", "resource": "kubernetes", "config": {}}
        (await api.post("/api/v1/queues", json=body)).raise_for_status()
    return name


async def wakeup_latency(
    waiter: ServerProcess, enqueuer: ServerProcess, rounds: int
) -> list[float]:
    """Seconds from sending an enqueue (to `enqueuer`) to the claim's answer (on `waiter`)."""
    queue = await _queue(waiter)
    latencies = []
    async with _client(waiter) as claim_api, _client(enqueuer) as enqueue_api:
        for _ in range(rounds):
            body = {"agent_id": "bench", "queues": [f"admin/{queue}"], "wait": 20}
            claim = asyncio.create_task(claim_api.post("/api/v1/agents/claim", json=body))
            await asyncio.sleep(0.05)  # the claim is waiting
            started = time.perf_counter()
            await enqueue_api.post(f"/api/v1/queues/admin/{queue}/items", json={})
            answer = await claim
            latencies.append(time.perf_counter() - started)
            if answer.json() is None:
                raise RuntimeError("a claim was not woken")
    return latencies


async def throughput(
    servers: list[ServerProcess], items: int, claimers: int, producers: int
) -> float:
    """Items per second, enqueue -> claim, with load spread over `servers`."""
    queue = await _queue(servers[0])
    clients = [_client(s) for s in servers]
    claimed = 0
    done = asyncio.Event()

    async def claimer(index: int) -> None:
        nonlocal claimed
        api = clients[index % len(clients)]
        body = {"agent_id": f"agent-{index}", "queues": [f"admin/{queue}"], "wait": 5}
        while not done.is_set():
            answer = await api.post("/api/v1/agents/claim", json=body)
            if answer.json() is not None:
                claimed += 1
                if claimed >= items:
                    done.set()

    async def producer(index: int) -> None:
        api = clients[index % len(clients)]
        for _ in range(index, items, producers):
            (await api.post(f"/api/v1/queues/admin/{queue}/items", json={})).raise_for_status()

    tasks = [asyncio.create_task(claimer(i)) for i in range(claimers)]
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    await asyncio.gather(*(producer(i) for i in range(producers)))
    await done.wait()
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()
    return items / elapsed


@contextmanager
def writer_and_dispatcher(
    bus: str, before: Path | None
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Replica W (writes events, delivers none) and replica D (delivers), on a fresh database."""
    env = {
        "RUNYARD_REPLICAS": "2",
        "RUNYARD_SIGNING_SECRET": secrets.token_hex(32),
        "RUNYARD_SECRETS_KEY": Fernet.generate_key().decode(),
        "RUNYARD_BUS": bus,
        "RUNYARD_QUEUE_REDIS_URL": REDIS_URL,
        "RUNYARD_QUEUE_REDIS_PREFIX": f"runyard-bench:{uuid.uuid4().hex}:",
    }
    code: dict[str, object] = {}
    if before is not None:
        env["PYTHONPATH"] = str(before)
        code["cwd"] = before
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runyard-bench-")))
        servers: list[ServerProcess] = []
        try:
            for name, extra in (("w", {"RUNYARD_EVENTS_DISPATCH": "false"}), ("d", {})):
                servers.append(
                    ServerProcess(
                        tmp / name,
                        url,
                        {**env, **extra},
                        ready_timeout_s=300,
                        **code,  # type: ignore[arg-type]
                    )
                )
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()


def event_latency(
    poster: ServerProcess, arrivals: Arrivals, rounds: int, run: str, base: int
) -> list[float]:
    """Seconds from each post's answer (its event committed) to its webhook's arrival."""
    latencies = []
    with httpx.Client(base_url=poster.url, auth=("api", ADMIN_KEY), timeout=60) as api:
        for i in range(rounds):
            n = base + i  # rides in the metric value, so the webhook says which post it is
            lines = [json.dumps({"loss": 1.0}), json.dumps({"loss": n / SCALE})]
            body = {"files": {"wandb-history.jsonl": {"offset": 2 * i, "content": lines}}}
            api.post(f"/files/admin/bench/{run}/file_stream", json=body).raise_for_status()
            acked = time.time()
            deadline = time.monotonic() + 30
            while n not in arrivals.at and time.monotonic() < deadline:
                time.sleep(0.001)
            if n not in arrivals.at:
                raise RuntimeError(f"event {n} was not delivered within 30 s")
            latencies.append(arrivals.at[n] - acked)
    return latencies


def event_wakeups(bus: str, rounds: int, before: Path | None) -> list[tuple[str, list[float]]]:
    """Event -> webhook latencies, posted to the delivering replica and to the other one."""
    arrivals = Arrivals()
    with writer_and_dispatcher(bus, before) as (writer, dispatcher):
        with dispatcher.api() as api:
            _setup(api, arrivals.url, 2)
        same = event_latency(dispatcher, arrivals, rounds, "r0", 1_000_000)
        across = event_latency(writer, arrivals, rounds, "r1", 2_000_000)
    arrivals.httpd.shutdown()
    return [("same replica", same), ("across replicas", across)]


def main() -> None:
    """Run both benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bus", choices=["redis", "postgres"], default="redis")
    parser.add_argument("--wakeups", type=int, default=200)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--claimers", type=int, default=12)
    parser.add_argument("--producers", type=int, default=6)
    parser.add_argument("--events", type=int, default=60, help="event wake-up rounds")
    parser.add_argument(
        "--before", type=Path, help="an older checkout: event wake-ups of its servers too"
    )
    parser.add_argument("--only", choices=["events"], help="run only the event wake-ups")
    args = parser.parse_args()
    console = Console()
    console.print(f"machine: {os.cpu_count()} cores; bus: {args.bus}; queues in Redis")

    events = Table(title="event dispatcher wake-up (post answered -> webhook arrived)")
    for column in ("code", "path", "rounds", "p50 ms", "p99 ms", "max ms"):
        events.add_column(column)
    sides = [("before", args.before), ("after", None)] if args.before else [("this", None)]
    for side, checkout in sides:
        for label, lat in event_wakeups(args.bus, args.events, checkout):
            events.add_row(
                side,
                label,
                str(len(lat)),
                f"{percentile(lat, 50) * 1000:.1f}",
                f"{percentile(lat, 99) * 1000:.1f}",
                f"{max(lat) * 1000:.1f}",
            )
    console.print(events)
    if args.only == "events":
        return

    table = Table(title="claim wake-up latency (enqueue sent -> claim answered)")
    for column in ("path", "rounds", "p50 ms", "p99 ms"):
        table.add_column(column)
    with replicas(3, args.bus) as servers:
        a, b, _ = servers
        for label, waiter, enqueuer in (("same replica", a, a), ("across replicas", a, b)):
            lat = asyncio.run(wakeup_latency(waiter, enqueuer, args.wakeups))
            table.add_row(
                label,
                str(len(lat)),
                f"{percentile(lat, 50) * 1000:.1f}",
                f"{percentile(lat, 99) * 1000:.1f}",
            )
        three = asyncio.run(throughput(servers, args.items, args.claimers, args.producers))
    console.print(table)
    with replicas(1, args.bus) as servers:
        one = asyncio.run(throughput(servers, args.items, args.claimers, args.producers))
    result = Table(title=f"queue throughput, enqueue -> claim over HTTP ({args.items} items)")
    for column in ("replicas", "items/s"):
        result.add_column(column)
    result.add_row("1", f"{one:.0f}")
    result.add_row("3", f"{three:.0f}")
    console.print(result)
    console.print(f"3 replicas / 1 replica: {three / one:.2f}x")


if __name__ == "__main__":
    main()
