"""GPU pools at scale: items with mixed GPU requests and priorities through four agents.

Usage: python hack/bench/bench_pools.py [--items 5000] [--pools 4] [--nodes 16] [--gpus 8]
                                        [--backend sqlite|postgres|redis]

A `runyard server`, the test suite's cluster simulator (kmock API server, scheduler, Job
controller, kubelet; `tests/support/`) with `--pools` pools of `--nodes` nodes of `--gpus`
GPUs, one queue and one in-process `runyard agent` (Kubernetes runner) per pool. The whole
backlog is enqueued first: GPU requests 1/2/4/8 (40/25/20/15 %), priorities
critical/high/medium/low (5/20/50/25 %), and a run time of 1-3 s per pod (the queue
template passes it to the simulated container). Then the agents start and the run ends
when every item has finished.

Prints: items launched per second (Jobs created over the time agents had work), average
GPU occupancy while items were still waiting, and queue wait (enqueue -> claim) p50/p90
by priority. No real cluster can run here: the simulator stands in for it, so pod start
and run times are the simulator's and the figures measure the agents, the server and the
queue store.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "tests"))  # the cluster simulator

from common import ADMIN_KEY, percentile, server

from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.runner import KubernetesRunner
from support.cluster_sim import ClusterSimulator
from support.kube import FakeKubernetes

NS = "bench"
PRODUCTS = ["A100-SXM4-80GB", "H100-SXM5-80GB", "L40S", "A10G", "L4", "B200"]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_MIX = [(1, 0.40), (2, 0.25), (4, 0.20), (8, 0.15)]
PRIORITY_MIX = [("critical", 0.05), ("high", 0.20), ("medium", 0.50), ("low", 0.25)]
TEMPLATE = {
    "spec": {
        # Finished Jobs go soon, as on a busy cluster; the simulator keeps up with fewer.
        "ttlSecondsAfterFinished": 5,
        "template": {
            "spec": {
                "containers": [
                    {
                        "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}},
                        "env": [{"name": "SIM_DURATION_S", "value": "{{seconds}}"}],
                    }
                ]
            }
        },
    }
}


def _pick(mix: list[tuple[Any, float]], rng: random.Random) -> Any:
    return rng.choices([value for value, _ in mix], weights=[w for _, w in mix])[0]


class AgentThread:
    """One pool's agent on its own event loop thread."""

    def __init__(self, url: str, queue: str, pool: PoolSettings, fake: FakeKubernetes) -> None:
        config = AgentConfig(
            queues=[queue], runner="kubernetes", pool=pool, max_jobs=256, heartbeat_interval_s=5
        )
        self.api = AgentApi(url, ADMIN_KEY)
        self.agent = Agent(config, self.api, KubernetesRunner(pool, api_client=fake.api_client()))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.agent.run())
        finally:
            self.loop.run_until_complete(self.api.close())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.agent.stop)
        self.thread.join(timeout=60)


def _occupancy(sim: ClusterSimulator) -> int:
    """GPUs requested by pods bound to a node and not ended."""
    used = 0
    for pod in sim.pods(NS):
        if pod["spec"].get("nodeName") and pod["status"].get("phase") in ("Pending", "Running"):
            for container in pod["spec"]["containers"]:
                limits = (container.get("resources") or {}).get("limits") or {}
                used += int(limits.get("nvidia.com/gpu", 0))
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--pools", type=int, default=4)
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres", "redis"])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    total_gpus = args.pools * args.nodes * args.gpus
    console = Console()

    with (
        server(args.backend) as srv,
        srv.api() as api,
        FakeKubernetes(namespaces=(NS,)) as fake,
        ClusterSimulator(fake, events=False, start_delay_s=0.05) as sim,
    ):
        queues, pools = [], []
        for p in range(args.pools):
            product = PRODUCTS[p % len(PRODUCTS)]
            selector = {"nvidia.com/gpu.product": product, "runyard.dev/bench-pool": f"p{p}"}
            for n in range(args.nodes):
                sim.add_node(f"p{p}-n{n}", selector, gpus=args.gpus, taints=[GPU_TAINT])
            queue = f"pool{p}-{uuid.uuid4().hex[:4]}"
            body = {
                "name": queue,
                "entity": "admin",
                "resource": "kubernetes",
                "config": TEMPLATE,
                "variables": [
                    {"name": "gpus", "type": "integer", "minimum": 1, "maximum": args.gpus},
                    {"name": "seconds", "type": "number", "minimum": 0.1, "maximum": 60},
                ],
                "lease_seconds": 120,
            }
            api.post("/api/v1/queues", json=body).raise_for_status()
            queues.append(queue)
            pools.append(PoolSettings(name=f"p{p}", namespace=NS, node_selector=selector))

        priority_of: dict[str, str] = {}
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("enqueueing", total=args.items)
            for i in range(args.items):
                queue = queues[i % len(queues)]
                priority = _pick(PRIORITY_MIX, rng)
                values = {"gpus": _pick(GPU_MIX, rng), "seconds": round(rng.uniform(1, 3), 2)}
                body = {
                    "run_spec": {"docker": {"docker_image": "org/train:1"}, "project": "bench"},
                    "priority": priority,
                    "template_values": values,
                }
                response = api.post(f"/api/v1/queues/admin/{queue}/items", json=body)
                response.raise_for_status()
                priority_of[response.json()["id"]] = priority
                progress.advance(task)

        agents = [
            AgentThread(srv.url, q, pool, fake) for q, pool in zip(queues, pools, strict=True)
        ]
        started = time.monotonic()
        for agent in agents:
            agent.thread.start()
        samples: list[float] = []
        last_launch = started
        launched = 0
        # Jobs ever seen: finished ones go after their TTL, so the current count undercounts.
        seen: set[str] = set()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("running", total=args.items)
            while True:
                time.sleep(0.5)
                jobs = sim.jobs(NS)
                seen.update(job["metadata"]["name"] for job in jobs)
                done = 0
                for q in queues:
                    by_state = api.get(f"/api/v1/queues/admin/{q}").json()["stats"]["by_state"]
                    done += sum(by_state.get(s, 0) for s in ("finished", "failed", "canceled"))
                if len(seen) > launched:
                    launched, last_launch = len(seen), time.monotonic()
                if launched < args.items:  # work still waiting: how busy are the GPUs?
                    samples.append(_occupancy(sim) / total_gpus)
                progress.update(task, completed=done)
                if done >= args.items or time.monotonic() - started > 1800:
                    break
        elapsed = time.monotonic() - started
        for agent in agents:
            agent.stop()

        waits: dict[str, list[float]] = defaultdict(list)
        states: dict[str, int] = defaultdict(int)
        for queue in queues:
            items = api.get(f"/api/v1/queues/admin/{queue}/items", params={"limit": 10000}).json()
            for item in items:
                states[item["state"]] += 1
                times = item["state_times"]
                if "claimed" in times:
                    enqueued = _seconds(times["pending"])
                    waits[priority_of[item["id"]]].append(_seconds(times["claimed"]) - enqueued)

    table = Table(
        title=(
            f"{args.items} items, {args.pools} pools x {args.nodes} nodes x {args.gpus} GPUs "
            f"({args.backend}; simulated cluster)"
        )
    )
    for column in ("items launched/s", "GPU occupancy while items waited", "wall s", "states"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{launched / max(last_launch - started, 1e-9):.1f}",
        f"{100 * sum(samples) / max(len(samples), 1):.1f} %",
        f"{elapsed:.1f}",
        ", ".join(f"{k}={v}" for k, v in sorted(states.items())),
    )
    console.print(table)
    by_priority = Table(title="queue wait (enqueue -> claim) by priority")
    for column in ("priority", "items", "p50 s", "p90 s"):
        by_priority.add_column(column, justify="right")
    for priority, _ in PRIORITY_MIX:
        values = waits.get(priority, [])
        if values:
            by_priority.add_row(
                priority,
                str(len(values)),
                f"{percentile(values, 50):.1f}",
                f"{percentile(values, 90):.1f}",
            )
    console.print(by_priority)


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    main()
