"""Agent launch speed: from a claimed item to its Kubernetes Job accepted by the API server.

Usage: python hack/bench/bench_launch.py [--items 200] [--max-jobs 256]

A `runyard server` (SQLite), kmock as the Kubernetes API server (no real one can run
here; kmock answers in-process over HTTP, so API latency is near zero and the figure is
the agent's own cost), and an in-process agent with the Kubernetes runner. Every item's
`runner.launch` (render the Job, create it, report launching) is timed. Target: p50 under
100 ms after the claim.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import kmock
from kubernetes import client
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from common import ADMIN_KEY, percentile, server

from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.runner import KubernetesRunner
from runyard.launch.models import QueueItem


def start_kmock() -> tuple[client.ApiClient, threading.Event]:
    """kmock's emulator in a thread; returns a client for it and the event that stops it."""
    ready, stop = threading.Event(), threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as srv:
            for resource in ("v1/nodes", "v1/pods", "batch/v1/jobs"):
                emulator.resources[resource] = {}
            box["url"] = str(srv.url).rstrip("/")
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait(20)
    config = client.Configuration()
    config.host = box["url"]
    return client.ApiClient(config), stop


class TimedRunner(KubernetesRunner):
    """The real runner, with each launch timed."""

    durations: list[float]

    async def launch(self, item: QueueItem) -> None:
        started = time.perf_counter()
        await super().launch(item)
        self.durations.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--max-jobs", type=int, default=256)
    args = parser.parse_args()
    kube, stop_kube = start_kmock()
    selector = {"nvidia.com/gpu.product": "A100"}
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": selector},
        "status": {"allocatable": {"nvidia.com/gpu": "1000"}},
    }
    client.CoreV1Api(kube).create_node(node)
    with server("sqlite") as srv, srv.api() as api:
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        template = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}}}]
                    }
                }
            }
        }
        body = {
            "name": queue,
            "entity": "admin",
            "resource": "kubernetes",
            "config": template,
            "variables": [{"name": "gpus", "type": "integer", "minimum": 0, "default": 1}],
        }
        api.post("/api/v1/queues", json=body).raise_for_status()
        pool = PoolSettings(name="a100", namespace="bench", node_selector=selector)
        runner = TimedRunner(pool, api_client=kube)
        runner.durations = []
        config = AgentConfig(queues=[queue], runner="kubernetes", pool=pool, max_jobs=args.max_jobs)
        loop = asyncio.new_event_loop()
        agent = Agent(config, AgentApi(srv.url, ADMIN_KEY), runner)
        thread = threading.Thread(target=lambda: loop.run_until_complete(agent.run()))
        thread.start()
        spec = {"docker": {"docker_image": "org/train:1"}, "project": "bench"}
        started = time.perf_counter()
        for _ in range(args.items):
            api.post(
                f"/api/v1/queues/admin/{queue}/items", json={"run_spec": spec}
            ).raise_for_status()
        deadline = time.monotonic() + 300
        while len(runner.durations) < args.items and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        loop.call_soon_threadsafe(agent.stop)
        thread.join(timeout=30)
    stop_kube.set()
    ms = [d * 1000 for d in runner.durations]
    table = Table(title=f"claim -> Job created ({len(ms)} of {args.items} items; kmock API)")
    for column in ("p50 ms", "p90 ms", "p99 ms", "max ms", "items/s end to end"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{percentile(ms, 50):.1f}",
        f"{percentile(ms, 90):.1f}",
        f"{percentile(ms, 99):.1f}",
        f"{max(ms):.1f}",
        f"{len(ms) / elapsed:.0f}",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
