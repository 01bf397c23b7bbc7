"""GPU pools: how well the agents schedule, measured on a simulated clock.

Usage: python hack/bench/bench_pools.py [--items 400] [--pools 4] [--nodes 4] [--gpus 8]
                                        [--load 1.2] [--backend sqlite|postgres|redis]

A `runyard server`, the test suite's cluster simulator (kmock API server, scheduler, Job and
JobSet controllers, kubelet; `tests/support/`) with `--pools` pools of `--nodes` nodes of
`--gpus` GPUs, one queue and one in-process `runyard agent` (Kubernetes runner) per pool.
The last pool runs gangs: JobSets of two pods that must start together.

Jobs last minutes to hours of *simulated* time (5 min to 4 h, log-normal), ask for 1/2/4/8
GPUs (gangs: 2 pods x 4 or 8), with priorities critical/high/medium/low (5/20/50/25 %).
A sixth of the items wait at the start; the rest arrive over time at `--load` times what
the GPUs can serve, so queues build up.

The clock the simulated containers live by moves only when the agents have nothing left
to do: every job that ended was reported, every item that was claimed runs, no request is
in flight, and nothing changed for `--settle` seconds. Then it jumps to the next job end or
arrival. So the time agents, server and simulator need to decide and launch costs no
simulated time, and occupancy measures what the agents decided, not how busy this
machine's CPUs were (the earlier version, on the wall clock, measured 14.9 % for that
reason). Figures come from `pool_figures.py` (tested in tests/test_bench_pool_figures.py).

Prints: GPU occupancy while work waited (goal >= 95 %) and the share of that time in which
a waiting item would have fit the free GPUs (decisions missed); queue wait (enqueue -> job
start) p50/p90 by priority in simulated minutes (goal: critical p90 < low p50); and
launches per second of wall-clock time while the agents were launching.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "tests"))  # the cluster simulator

from common import ADMIN_KEY, server
from pool_figures import (
    PoolState,
    Stretch,
    Waiting,
    launches_per_second,
    occupancy,
    percentile,
    waits_by_priority,
)

from runyard import log_setup
from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from runyard.launch.kubernetes.pool import PoolSettings, WorkloadKind
from runyard.launch.kubernetes.runner import KubernetesRunner
from runyard.launch.models import ItemState
from support.cluster_sim import ClusterSimulator
from support.kube import FakeKubernetes

NS = "bench"
PRODUCTS = ["A100-SXM4-80GB", "H100-SXM5-80GB", "L40S", "A10G", "L4", "B200"]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_MIX = [(1, 0.40), (2, 0.25), (4, 0.20), (8, 0.15)]
GANG_MIX = [(4, 0.6), (8, 0.4)]
GANG_PODS = 2
PRIORITY_MIX = [("critical", 0.05), ("high", 0.20), ("medium", 0.50), ("low", 0.25)]
JOBSET = WorkloadKind(apiVersion="jobset.x-k8s.io/v1alpha2", kind="JobSet")
SETTLE_LIMIT_S = 20.0
EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CONTAINER = {
    "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}},
    "env": [{"name": "SIM_DURATION_S", "value": "{{seconds}}"}],
}
# Finished Jobs go after a simulated minute, as on a busy cluster.
JOB_TEMPLATE = {
    "spec": {"ttlSecondsAfterFinished": 60, "template": {"spec": {"containers": [CONTAINER]}}}
}
GANG_TEMPLATE = {
    "apiVersion": "jobset.x-k8s.io/v1alpha2",
    "kind": "JobSet",
    "spec": {
        "replicatedJobs": [
            {
                "name": "workers",
                "replicas": GANG_PODS,
                "template": {
                    "spec": {
                        "backoffLimit": 0,
                        "template": {"spec": {"containers": [{"name": "trainer", **CONTAINER}]}},
                    }
                },
            }
        ]
    },
}


class SimClock:
    """Simulated seconds since the start; moved by the benchmark only."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def utc(self) -> datetime:
        """The same moment as an aware datetime (the agent's telemetry clock)."""
        return EPOCH + timedelta(seconds=self.now)


class CountingApi(AgentApi):
    """The agent's API, counting requests in flight (a waiting claim is not work)."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(url, key)
        self.in_flight = 0

    async def _call(self, method: str, path: str, retry: bool = True, **kwargs: Any) -> Any:
        if path == "/agents/claim":
            return await super()._call(method, path, retry, **kwargs)
        self.in_flight += 1
        try:
            return await super()._call(method, path, retry, **kwargs)
        finally:
            self.in_flight -= 1


class AgentThread:
    """One pool's agent on its own event loop thread."""

    def __init__(
        self, url: str, queue: str, pool: PoolSettings, fake: FakeKubernetes, clock: SimClock
    ) -> None:
        config = AgentConfig(
            queues=[queue],
            runner="kubernetes",
            pool=pool,
            max_jobs=256,
            heartbeat_interval_s=5,
            telemetry_interval_s=3600,  # no GPU figures to read here: keep the server free
        )
        self.pool = pool
        self.api = CountingApi(url, ADMIN_KEY)
        runner = KubernetesRunner(pool, api_client=fake.api_client())
        self.agent = Agent(config, self.api, runner, clock=clock.utc)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.agent.run())
        finally:
            self.loop.run_until_complete(self.api.close())

    def settled(self) -> frozenset[str] | None:
        """The items it holds, when all run and nothing is under way; else None."""
        agent = self.agent
        held = list(agent._held.values())
        if any(h.item.state is not ItemState.RUNNING for h in held):
            return None  # claimed or launching
        if agent._capacity_changed.is_set() or not agent._updates.empty() or self.api.in_flight:
            return None
        return frozenset(h.item.id for h in held)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.agent.stop)
        self.thread.join(timeout=60)


@dataclass
class Planned:
    """One item of the workload."""

    pool: int
    priority: str
    gpus: int
    pods: int
    seconds: int
    arrives: float
    item_id: str = ""


def _pick(mix: list[tuple[Any, float]], rng: random.Random) -> Any:
    return rng.choices([value for value, _ in mix], weights=[w for _, w in mix])[0]


def plan(args: argparse.Namespace, rng: random.Random) -> list[Planned]:
    """The workload: sizes, priorities and durations, then arrival times for `--load`."""
    gang_pool = args.pools - 1 if args.pools > 1 else None
    items = []
    for n in range(args.items):
        pool = n % args.pools
        gang = pool == gang_pool
        gpus = _pick(GANG_MIX if gang else GPU_MIX, rng)
        gpus = min(gpus, args.gpus)
        # Log-normal around 40 minutes, cut to 5 min .. 4 h, in whole minutes.
        minutes = min(240, max(5, round(math.exp(rng.gauss(math.log(40), 0.9)))))
        items.append(
            Planned(pool, _pick(PRIORITY_MIX, rng), gpus, GANG_PODS if gang else 1, minutes * 60, 0)
        )
    # Arrivals: a sixth wait at t=0, the rest arrive as a Poisson stream per pool whose GPU
    # demand is `load` times the pool's GPUs.
    per_pool_gpus = args.nodes * args.gpus
    for pool in range(args.pools):
        mine = [p for p in items if p.pool == pool]
        demand = sum(p.gpus * p.pods * p.seconds for p in mine) / max(1, len(mine))
        rate = args.load * per_pool_gpus / demand  # items per simulated second
        t = 0.0
        for n, planned in enumerate(mine):
            if n >= len(mine) // 6:
                t += rng.expovariate(rate)
            planned.arrives = round(t / 60) * 60.0
    return sorted(items, key=lambda p: p.arrives)


def _gpus_of(pod: dict[str, Any]) -> int:
    return sum(
        int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
        for c in pod["spec"]["containers"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--pools", type=int, default=4)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--load", type=float, default=1.2, help="offered GPU demand / GPUs")
    parser.add_argument("--settle", type=float, default=0.25, help="quiet seconds per step")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres", "redis"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--pack",
        action="store_true",
        help="the scheduler bin-packs GPUs (MostAllocated) instead of spreading them",
    )
    parser.add_argument("--max-minutes", type=float, default=30)
    args = parser.parse_args()
    log_setup.configure(logging.WARNING)
    rng = random.Random(args.seed)
    console = Console()
    workload = plan(args, rng)
    clock = SimClock()

    with (
        server(args.backend) as srv,
        srv.api() as api,
        FakeKubernetes(namespaces=(NS,)) as fake,
        ClusterSimulator(fake, events=False, start_delay_s=0, clock=clock, pack=args.pack) as sim,
    ):
        queues, pools, node_names = [], [], []
        for p in range(args.pools):
            gang = p == args.pools - 1 and args.pools > 1
            product = PRODUCTS[p % len(PRODUCTS)]
            selector = {"nvidia.com/gpu.product": product, "runyard.dev/bench-pool": f"p{p}"}
            names = [f"p{p}-n{n}" for n in range(args.nodes)]
            for name in names:
                sim.add_node(name, selector, gpus=args.gpus, taints=[GPU_TAINT])
            node_names.append(names)
            queue = f"pool{p}-{uuid.uuid4().hex[:4]}"
            body = {
                "name": queue,
                "entity": "admin",
                "resource": "kubernetes",
                "config": GANG_TEMPLATE if gang else JOB_TEMPLATE,
                "variables": [
                    {"name": "gpus", "type": "integer", "minimum": 1, "maximum": args.gpus},
                    {"name": "seconds", "type": "integer", "minimum": 60, "maximum": 86400},
                ],
                "lease_seconds": 600,
            }
            api.post("/api/v1/queues", json=body).raise_for_status()
            queues.append(queue)
            kinds = [JOBSET] if gang else []
            pools.append(
                PoolSettings(
                    name=f"p{p}", namespace=NS, node_selector=selector, workload_kinds=kinds
                )
            )

        agents = [
            AgentThread(srv.url, q, pool, fake, clock)
            for q, pool in zip(queues, pools, strict=True)
        ]
        for agent in agents:
            agent.thread.start()
        for agent in agents:
            while not agent.agent.ready.is_set():
                time.sleep(0.05)

        by_id: dict[str, Planned] = {}
        enqueued: dict[str, float] = {}
        started: dict[str, float] = {}
        stretches: list[Stretch] = []
        arrivals = list(workload)
        launches = 0
        busy_s = 0.0
        steps = 0
        wall_start = time.monotonic()

        def enqueue_due() -> None:
            while arrivals and arrivals[0].arrives <= clock.now:
                planned = arrivals.pop(0)
                body = {
                    "run_spec": {"docker": {"docker_image": "org/train:1"}, "project": "bench"},
                    "priority": planned.priority,
                    "template_values": {"gpus": planned.gpus, "seconds": planned.seconds},
                }
                response = api.post(f"/api/v1/queues/admin/{queues[planned.pool]}/items", json=body)
                response.raise_for_status()
                planned.item_id = response.json()["id"]
                by_id[planned.item_id] = planned
                enqueued[planned.item_id] = clock.now

        def observe() -> tuple[dict[int, set[str]], dict[int, list[int]]]:
            """Items with running pods, and each node's free GPUs, by pool."""
            running: dict[int, set[str]] = {p: set() for p in range(args.pools)}
            used: dict[str, int] = {}
            for pod in sim.pods(NS):
                phase = pod["status"].get("phase")
                node = pod["spec"].get("nodeName")
                if node and phase in ("Pending", "Running"):
                    used[node] = used.get(node, 0) + _gpus_of(pod)
                item_id = pod["metadata"]["labels"].get("runyard.dev/item", "")
                if phase == "Running" and item_id in by_id:
                    running[by_id[item_id].pool].add(item_id)
            free = {
                p: [args.gpus - used.get(name, 0) for name in node_names[p]]
                for p in range(args.pools)
            }
            return running, free

        def settle() -> tuple[dict[int, set[str]], dict[int, list[int]]]:
            """Wait until every agent is done with what the last clock move caused."""
            last: Any = None
            since = entered = time.monotonic()
            while True:
                held = [agent.settled() for agent in agents]
                pending = any(pod["status"].get("phase") == "Pending" for pod in sim.pods(NS))
                running, free = observe()
                agreed = (
                    all(h is not None and h == running[p] for p, h in enumerate(held))
                    and not pending
                )
                signature = (
                    (tuple(held), tuple(sorted(map(len, running.values())))) if agreed else None
                )
                if signature is None or signature != last:
                    last, since = signature, time.monotonic()
                elif time.monotonic() - since >= args.settle:
                    return running, free
                if time.monotonic() - entered > SETTLE_LIMIT_S:
                    # Never quiet: say why, and go on (the step's figures stand as they are).
                    stuck = [
                        (
                            pod["metadata"]["name"],
                            pod["spec"].get("nodeName"),
                            [c.get("message") for c in pod["status"].get("conditions") or []],
                        )
                        for pod in sim.pods(NS)
                        if pod["status"].get("phase") == "Pending"
                    ]
                    states = [
                        sorted(h.item.state.value for h in a.agent._held.values()) for a in agents
                    ]
                    console.print(
                        f"[yellow]not settled after {SETTLE_LIMIT_S:g} s[/]: held {states}, "
                        f"running {[len(r) for r in running.values()]}, pending pods {stuck}, "
                        f"in flight {[a.api.in_flight for a in agents]}, free {free}",
                        highlight=False,
                    )
                    return running, free
                time.sleep(0.02)

        while True:
            step_start = time.monotonic()
            enqueue_due()
            sim.sync()  # one simulator step at the new time: ended containers ended
            running, free = settle()
            busy_s += max(0.0, time.monotonic() - step_start - args.settle)
            steps += 1
            for ids in running.values():
                for item_id in ids - started.keys():
                    started[item_id] = clock.now
                    launches += 1
            waiting: dict[int, list[Waiting]] = {p: [] for p in range(args.pools)}
            for item_id, planned in by_id.items():
                if item_id not in started:
                    waiting[planned.pool].append(Waiting(planned.gpus, planned.pods))
            next_end = sim.next_end()
            candidates = [t for t in (next_end, arrivals[0].arrives if arrivals else None) if t]
            if not arrivals and len(started) == len(by_id):
                break  # nothing waits any more: occupancy is measured while work waits
            if not candidates:
                console.print("[red]stuck: items wait, nothing runs and nothing arrives[/]")
                break
            upcoming = max(clock.now, min(candidates))
            stretches.append(
                Stretch(
                    clock.now,
                    upcoming,
                    {
                        f"p{p}": PoolState(
                            total=args.nodes * args.gpus,
                            free_per_node=tuple(free[p]),
                            waiting=tuple(waiting[p]),
                        )
                        for p in range(args.pools)
                    },
                )
            )
            if time.monotonic() - wall_start > args.max_minutes * 60:
                console.print("[red]out of time (--max-minutes): figures so far[/]")
                break
            if steps % 25 == 0:
                console.print(
                    f"step {steps}: {clock.now / 3600:.1f} h simulated, {len(started)} started, "
                    f"{len(by_id) - len(started)} waiting, {len(arrivals)} to arrive",
                    highlight=False,
                )
            clock.now = upcoming
            sim.wake()
        wall = time.monotonic() - wall_start
        for agent in agents:
            agent.stop()

    figures = occupancy(stretches)
    priority_of = {item_id: planned.priority for item_id, planned in by_id.items()}
    waits = waits_by_priority(enqueued, started, priority_of)
    title = (
        f"{args.items} items, {args.pools} pools x {args.nodes} nodes x {args.gpus} GPUs, "
        f"load {args.load:g}, {'bin-packing' if args.pack else 'spreading'} scheduler "
        f"({args.backend}; simulated cluster and clock)"
    )
    table = Table(title=title)
    for column in (
        "GPU occupancy while work waited",
        "waiting time with a fitting item idle",
        "launches/s (wall)",
        "simulated h",
        "steps",
        "wall s",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{figures.percent:.1f} %",
        f"{figures.missed_percent:.1f} %",
        f"{launches_per_second(launches, busy_s):.1f}",
        f"{clock.now / 3600:.1f}",
        str(steps),
        f"{wall:.0f}",
    )
    console.print(table)
    by_priority = Table(title="queue wait (enqueue -> job start), simulated minutes")
    for column in ("priority", "items", "p50", "p90"):
        by_priority.add_column(column, justify="right")
    for priority, _ in PRIORITY_MIX:
        values = waits.get(priority, [])
        by_priority.add_row(
            priority,
            str(len(values)),
            f"{percentile(values, 50) / 60:.1f}",
            f"{percentile(values, 90) / 60:.1f}",
        )
    console.print(by_priority)
    critical_p90 = percentile(waits.get("critical", []), 90)
    low_p50 = percentile(waits.get("low", []), 50)
    verdict = "met" if critical_p90 < low_p50 else "missed"
    console.print(
        f"critical p90 {critical_p90 / 60:.1f} min vs low p50 {low_p50 / 60:.1f} min: "
        f"goal {verdict}; occupancy goal (>= 95 %) "
        f"{'met' if figures.percent >= 95 else 'missed'}"
    )


if __name__ == "__main__":
    main()
