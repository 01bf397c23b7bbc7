"""The pool's nodes and every namespace's resource-holding pods, kept current by watches.

A claim offers the pool's free GPUs; computing them must not list the cluster's pods on
every claim, so two watches keep caches that `pool_capacity` (pure) reads. Before the
watches start (the agent registers with its capacity first) one list stands in for them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kubernetes import client

from .capacity import PoolCapacity, pool_capacity
from .pool import PoolSettings
from .watch import ResourceWatch

ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"  # pods that hold resources


def list_dicts(list_fn: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """A list call's items as plain dicts (no model objects: watches hand out dicts too)."""
    response = list_fn(_preload_content=False, **kwargs)
    return list(json.loads(response.data).get("items") or [])


class PoolWatch:
    """Watched nodes of the pool and active pods of all namespaces."""

    def __init__(self, pool: PoolSettings, core: client.CoreV1Api) -> None:
        self.pool = pool
        self.core = core
        self._nodes: dict[str, dict[str, Any]] = {}
        self._active_pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.started = False

    def watches(self, loop: asyncio.AbstractEventLoop) -> list[ResourceWatch]:
        """The two watches feeding the caches (the caller starts and stops them)."""
        self.started = True
        return [
            ResourceWatch(
                self.core.list_node, None, self._node_selector(), self._on_node, loop, "nodes"
            ),
            ResourceWatch(
                self.core.list_pod_for_all_namespaces,
                None,
                None,
                self._on_placed_pod,
                loop,
                "placed-pods",
                field_selector=ACTIVE_PODS,
            ),
        ]

    def _node_selector(self) -> str | None:
        return ",".join(f"{k}={v}" for k, v in self.pool.node_selector.items()) or None

    async def capacity(self) -> PoolCapacity:
        """The pool's nodes and free GPUs: from the caches once watched, else one list."""
        if self.started:
            nodes, pods = list(self._nodes.values()), list(self._active_pods.values())
        else:
            nodes = await asyncio.to_thread(
                list_dicts, self.core.list_node, label_selector=self._node_selector()
            )
            pods = await asyncio.to_thread(
                list_dicts, self.core.list_pod_for_all_namespaces, field_selector=ACTIVE_PODS
            )
        return pool_capacity(nodes, pods, self.pool)

    def _on_node(self, kind: str, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        if kind == "DELETED":
            self._nodes.pop(name, None)
        else:
            self._nodes[name] = node

    def _on_placed_pod(self, kind: str, pod: dict[str, Any]) -> None:
        """Any namespace's pods that hold resources (other teams' pods use GPUs too)."""
        meta = pod["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        phase = (pod.get("status") or {}).get("phase")
        if kind == "DELETED" or phase in ("Succeeded", "Failed"):
            self._active_pods.pop(key, None)
        else:
            self._active_pods[key] = pod
