"""The agent's side of the server's REST API (`/api/v1/agents/...`, `/api/v1/items/...`).

Network errors and server restarts are retried with backoff: an agent outlives its server.
A refusal (4xx) is not retried; it comes back as `Refused` with the server's reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from ..idle import GpuSample, IdlePolicy
from ..models import ItemError, ItemState, QueueItem, Requirements

logger = logging.getLogger(__name__)
RETRY_DELAYS = (0.2, 0.5, 1, 2, 5)


class Refused(RuntimeError):
    """The server said no (4xx): the request must not be retried as is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AgentApi:
    """Async calls the agent makes; one instance per agent process."""

    def __init__(self, url: str, api_key: str, transport: httpx.AsyncBaseTransport | None = None):
        self.url = url
        self._http = httpx.AsyncClient(
            base_url=url + "/api/v1",
            headers={"Authorization": f"Bearer {api_key}"},
            # Claims wait up to 30 s on the server: leave room for that.
            timeout=httpx.Timeout(45.0, connect=10.0),
            transport=transport,
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, retry: bool = True, **kwargs: Any) -> Any:
        delays = list(RETRY_DELAYS) if retry else []
        while True:
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                if not delays:
                    raise
                delay = delays.pop(0) if len(delays) > 1 else delays[0]
                logger.warning("server unreachable, retrying", extra={"error": str(exc)})
                await asyncio.sleep(delay)
                continue
            if response.status_code >= 500 and delays:
                await asyncio.sleep(delays.pop(0) if len(delays) > 1 else delays[0])
                continue
            if response.status_code >= 400:
                try:
                    detail = response.json().get("detail", response.text)
                except ValueError:
                    detail = response.text
                raise Refused(response.status_code, str(detail))
            return response.json() if response.content else None

    async def register(
        self,
        name: str,
        queues: list[str],
        capacity: dict[str, Any],
        hostname: str,
        version: str,
        entity: str | None,
        heartbeat_interval_s: float | None = None,
        pool: dict[str, Any] | None = None,
    ) -> str:
        """Register this agent process (a Kubernetes agent with its pool's policy, which
        the server checks enqueues against); returns its id."""
        body: dict[str, Any] = {
            "name": name,
            "queues": queues,
            "capacity": capacity,
            "hostname": hostname,
            "version": version,
            "heartbeat_interval_s": heartbeat_interval_s,
        }
        if pool is not None:
            body["pool"] = pool
        params = {"entity": entity} if entity else None
        result = await self._call("POST", "/agents", json=body, params=params)
        return str(result["id"])

    async def viewer_entity(self) -> str:
        """The entity of this API key (the default entity of queues)."""
        result = await self._call("GET", "/viewer")
        return str(result["entity"])

    async def claim(
        self,
        agent_id: str,
        queues: list[str],
        capacity: Requirements | None,
        backfill: bool,
        wait: float,
    ) -> QueueItem | None:
        """Long-poll for the best item that fits; None when `wait` passed without one."""
        body = {
            "agent_id": agent_id,
            "queues": queues,
            "capacity": capacity.model_dump() if capacity is not None else None,
            "backfill": backfill,
            "wait": wait,
        }
        # Never retried blindly: a lost answer would leave an item leased to nobody
        # listening (its lease then expires and it is requeued).
        result = await self._call("POST", "/agents/claim", retry=False, json=body)
        return QueueItem.model_validate(result) if result else None

    async def heartbeat(
        self,
        agent_id: str,
        item_ids: list[str],
        status: str,
        capacity: Requirements | None = None,
        telemetry: dict[str, list[GpuSample]] | None = None,
    ) -> list[QueueItem]:
        """Renew leases (and tell a waiting claim the free capacity, and the jobs' latest
        GPU samples); the items come back with their current state."""
        body: dict[str, Any] = {"agent_id": agent_id, "item_ids": item_ids, "status": status}
        if capacity is not None:
            body["capacity"] = capacity.model_dump()
        if telemetry:
            body["telemetry"] = {
                item_id: [s.model_dump(mode="json") for s in samples]
                for item_id, samples in telemetry.items()
            }
        result = await self._call("POST", "/agents/heartbeat", json=body)
        return [QueueItem.model_validate(i) for i in result]

    async def idle_policy(self, entity: str, queue: str) -> IdlePolicy | None:
        """The queue's idle policy (None: the queue has none)."""
        result = await self._call("GET", f"/queues/{entity}/{queue}")
        policy = result.get("idle_policy")
        return IdlePolicy.model_validate(policy) if policy else None

    async def run_gpu_metrics(self, entity: str, project: str, run_id: str) -> dict[str, float]:
        """The latest value of each `system.gpu.*` metric the run's client logged ({}: none
        yet, or no such run yet)."""
        try:
            result = await self._call(
                "GET",
                f"/runs/{entity}/{project}/{run_id}/system",
                retry=False,
                params={"buckets": 1},
            )
        except Refused as exc:
            if exc.status == 404:  # the job's client has not created its run yet
                return {}
            raise
        series = (result or {}).get("series") or {}
        return {
            key: float(buckets[-1]["last"])
            for key, buckets in series.items()
            if key.startswith("system.gpu.") and buckets
        }

    async def adopt(self, agent_id: str, item_ids: list[str]) -> list[QueueItem]:
        """Take over the items whose workloads this agent found after a restart."""
        result = await self._call(
            "POST", "/agents/adopt", json={"agent_id": agent_id, "item_ids": item_ids}
        )
        return [QueueItem.model_validate(i) for i in result]

    async def report(
        self,
        item_id: str,
        agent_id: str,
        state: ItemState,
        run_id: str | None = None,
        error: ItemError | None = None,
        warning: str | None = None,
        requeue: bool = False,
    ) -> QueueItem:
        """Report an item's new state (or a warning about it)."""
        body: dict[str, Any] = {"agent_id": agent_id, "state": state.value, "requeue": requeue}
        if run_id:
            body["run_id"] = run_id
        if error is not None:
            body["error"] = error.model_dump()
        if warning:
            body["warning"] = warning
        result = await self._call("POST", f"/items/{item_id}/report", json=body)
        return QueueItem.model_validate(result)
