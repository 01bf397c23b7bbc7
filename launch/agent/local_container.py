"""The local-container runner: each item runs as a Docker container on this machine.

A thin shell around the docker SDK; every decision (the create spec, the policy, what an
exit means) is `container_spec.py`. Containers carry labels (`runyard.item-id`,
`runyard.scope` = this agent's workdir, run id, pinned GPUs, memory limit), so an agent that
restarts finds the containers an earlier agent started, adopts them (running or already
exited) and reports how they ended. A container is removed once its end is reported; its
log stays in the item's folder (`WORKDIR/<item>/output.log`), streamed while it runs.

Blocking Docker calls run in threads: short ones in the default executor, the two long
ones of each job (following its log, waiting for its exit) in daemon threads
(`container_watch.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors

from ..models import ItemError, ItemState, QueueItem
from .config import ConfigError
from .container_settings import ContainerSettings
from .container_spec import (
    LABEL_GPUS,
    LABEL_ITEM,
    LABEL_MEMORY,
    LABEL_RUN,
    LABEL_SCOPE,
    ContainerOptionError,
    CreateSpec,
    build_spec,
    container_server_url,
    interpret_exit,
)
from .container_watch import follow_log, wait_for_exit
from .local_base import LocalRunnerBase
from .local_process import tail
from .run_env import run_id_for
from .runner import JobUpdate, LaunchError

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    item_id: str
    container_id: str
    run_id: str
    memory_limit: int | None
    log_path: Path
    canceled: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    log_thread: threading.Thread | None = None
    log_stream: Any = None


def _pins_of(labels: dict[str, str]) -> tuple[int, ...]:
    text = labels.get(LABEL_GPUS) or ""
    return tuple(int(i) for i in text.split(",") if i)


class LocalContainerRunner(LocalRunnerBase):
    """Runs items as Docker containers; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        server_url: str,
        api_key: str,
        gpus: Sequence[int] | None,
        settings: ContainerSettings | None = None,
        log_tail_lines: int = 50,
    ) -> None:
        super().__init__(workdir, server_url, api_key, gpus, log_tail_lines)
        # Containers of this agent (and its successors) are those labelled with its workdir.
        self.scope = str(self.workdir)
        self.settings = settings or ContainerSettings()
        self._client: docker.DockerClient | None = None
        self._jobs: dict[str, _Job] = {}
        # Items being pulled or created (those canceled meanwhile go in `_dropped`).
        self._launching: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()

    @property
    def client(self) -> docker.DockerClient:
        """The Docker client (after start())."""
        assert self._client is not None, "start() first"
        return self._client

    async def start(self, agent_id: str, updates: asyncio.Queue[JobUpdate]) -> None:
        """Connect to the engine (ConfigError when none answers) and learn the pinned GPUs."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._updates = updates
        self._loop = asyncio.get_running_loop()
        try:
            self._client = await asyncio.to_thread(docker.from_env)
            await asyncio.to_thread(self.client.ping)
        except docker.errors.DockerException as exc:
            raise ConfigError(
                f"runner local-container: no Docker engine answers ({exc}); start dockerd "
                "(or set DOCKER_HOST), then start the agent again"
            ) from None
        for container in await self._ours():
            if container.status in ("created", "running", "restarting", "paused"):
                self._pinned[container.labels[LABEL_ITEM]] = _pins_of(container.labels)
        await asyncio.to_thread(self._warn_if_unreachable)

    def _warn_if_unreachable(self) -> None:
        # A loopback server URL becomes host.docker.internal (the bridge's gateway): a server
        # listening on 127.0.0.1 only cannot be reached there, and every job would fail at
        # wandb.init. Say so once, at start, with the fix.
        url, hosts = container_server_url(self.server_url, self.settings, None)
        if not hosts:
            return
        try:
            network = self.client.networks.get("bridge")
            ipam = network.attrs["IPAM"]["Config"][0]
            # Older engines list only the subnet: the gateway is its first address.
            gateway = ipam.get("Gateway") or str(next(ipaddress.ip_network(ipam["Subnet"]).hosts()))
            port = int(url.rsplit(":", 1)[1].split("/")[0])
        except Exception as exc:  # no bridge network, an odd URL: nothing to check
            logger.info("cannot check the jobs' server URL", extra={"reason": repr(exc)})
            return
        try:
            socket.create_connection((gateway, port), timeout=2).close()
        except OSError:
            logger.warning(
                "jobs cannot reach the server: it does not answer on the Docker bridge's "
                "gateway; run the server with --host 0.0.0.0, or set container.server_url",
                extra={"job_url": url, "gateway": gateway},
            )

    async def _ours(self, item_id: str | None = None) -> list[Any]:
        labels = [f"{LABEL_SCOPE}={self.scope}"]
        if item_id is not None:
            labels.append(f"{LABEL_ITEM}={item_id}")
        return await asyncio.to_thread(
            self.client.containers.list, all=True, filters={"label": labels}
        )

    async def recover(self) -> list[str]:
        """Items whose containers an earlier agent started here (running or ended unreported)."""
        return [c.labels[LABEL_ITEM] for c in await self._ours()]

    def _spec(self, item: QueueItem, indices: tuple[int, ...]) -> CreateSpec:
        try:
            return build_spec(
                item,
                settings=self.settings,
                scope=self.scope,
                server_url=self.server_url,
                api_key=self.api_key,
                run_id=run_id_for(item),
                gpus=indices,
                machine_has_gpus=bool(self.gpus),
            )
        except ContainerOptionError as exc:
            raise LaunchError("launch", str(exc)) from None

    async def launch(self, item: QueueItem) -> None:
        """Pull (per policy), create and start the item's container; adopt one that exists."""
        if await self._ours(item.id):
            logger.info("adopting a container started earlier", extra={"item": item.id})
            await self.resume(item)
            return
        self._spec(item, ())  # refuse bad options before taking GPUs
        indices = self._pin(item)
        self._launching.add(item.id)
        try:
            spec = self._spec(item, indices)
            self._put(JobUpdate(item.id, ItemState.LAUNCHING))
            await asyncio.to_thread(self._ensure_image, spec)
            container = await asyncio.to_thread(self._create_and_start, spec)
        except BaseException:
            self._pinned.pop(item.id, None)
            self._dropped.discard(item.id)
            raise
        finally:
            self._launching.discard(item.id)
        if item.id in self._dropped:  # canceled while its image was pulled: run nothing
            self._dropped.discard(item.id)
            self._pinned.pop(item.id, None)
            await self._remove(container.id)
            logger.info("canceled before it started", extra={"item": item.id})
            return
        run_id = spec.labels[LABEL_RUN]
        logger.info(
            "launched",
            extra={"item": item.id, "container": container.short_id, "gpus": indices},
        )
        self._put(JobUpdate(item.id, ItemState.RUNNING, run_id=run_id))
        self._watch(item.id, container.id, run_id, spec.mem_limit, truncate=True)

    def _ensure_image(self, spec: CreateSpec) -> None:
        present = True
        try:
            self.client.images.get(spec.image)
        except docker.errors.ImageNotFound:
            present = False
        except docker.errors.APIError as exc:  # e.g. not a valid image reference
            raise LaunchError("launch", f"image {spec.image!r}: {exc.explanation}") from None
        if present and spec.pull_policy != "always":
            return
        if spec.pull_policy == "never":
            raise LaunchError(
                "launch",
                f"image {spec.image!r} not found locally and pull-policy is never: build or "
                "load it on the agent's machine (docker build / docker load), or set "
                "pull-policy to if-not-present",
            )
        logger.info("pulling", extra={"image": spec.image})
        try:
            self.client.images.pull(spec.image)
        except docker.errors.DockerException as exc:
            why = getattr(exc, "explanation", None) or str(exc)
            where = "not found locally and pulling it" if not present else "pulling it"
            raise LaunchError("launch", f"image {spec.image!r} {where} failed: {why}") from None

    def _create_and_start(self, spec: CreateSpec) -> Any:
        try:
            container = self.client.containers.create(**spec.create_kwargs())
        except docker.errors.DockerException as exc:
            why = getattr(exc, "explanation", None) or str(exc)
            raise LaunchError("launch", f"docker could not create the container: {why}") from None
        try:
            container.start()
        except docker.errors.DockerException as exc:
            why = getattr(exc, "explanation", None) or str(exc)
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
            raise LaunchError("launch", f"docker could not start the container: {why}") from None
        return container

    async def resume(self, item: QueueItem) -> None:
        """Watch a container an earlier agent started (it may have exited already)."""
        found = await self._ours(item.id)
        if not found:
            error = ItemError(
                stage="run", message="the job's container is gone (removed outside the agent)"
            )
            self._put(JobUpdate(item.id, ItemState.FAILED, error=error))
            return
        container = found[0]
        labels = container.labels
        self._pinned[item.id] = _pins_of(labels)
        run_id = labels.get(LABEL_RUN) or run_id_for(item)
        if item.state in (ItemState.CLAIMED, ItemState.LAUNCHING):
            self._put(JobUpdate(item.id, ItemState.RUNNING, run_id=run_id))
        memory = int(labels[LABEL_MEMORY]) if labels.get(LABEL_MEMORY) else None
        logger.info("adopted container", extra={"item": item.id, "container": container.short_id})
        # The engine keeps the whole log: the item's file is written again from its start.
        self._watch(item.id, container.id, run_id, memory, truncate=True)

    def _watch(
        self, item_id: str, container_id: str, run_id: str, memory: int | None, truncate: bool
    ) -> None:
        folder = self.workdir / item_id
        folder.mkdir(parents=True, exist_ok=True)
        job = _Job(item_id, container_id, run_id, memory, folder / "output.log")
        self._jobs[item_id] = job
        job.log_thread = threading.Thread(
            target=follow_log,
            args=(container_id, job.log_path, truncate, self._keep_stream(job)),
            name=f"log-{item_id}",
            daemon=True,
        )
        job.log_thread.start()
        threading.Thread(
            target=self._wait_exit, args=(job,), name=f"wait-{item_id}", daemon=True
        ).start()

    def _keep_stream(self, job: _Job) -> Callable[[Any], None]:
        def keep(stream: Any) -> None:
            job.log_stream = stream

        return keep

    def _wait_exit(self, job: _Job) -> None:
        exited, state = wait_for_exit(job.container_id, self._stopping)
        loop = self._loop
        if exited and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                asyncio.run_coroutine_threadsafe(self._ended(job, state), loop)

    async def _ended(self, job: _Job, state: dict[str, Any] | None) -> None:
        if job.log_thread is not None:
            await asyncio.to_thread(job.log_thread.join, 10)
        self._jobs.pop(job.item_id, None)
        self._pinned.pop(job.item_id, None)
        if not job.canceled:
            if state is None:
                error = ItemError(stage="run", message="the job's container is gone (removed)")
                self._put(JobUpdate(job.item_id, ItemState.FAILED, run_id=job.run_id, error=error))
            else:
                outcome = interpret_exit(state, job.memory_limit)
                error = None
                if outcome.state is ItemState.FAILED:
                    log = tail(job.log_path, self.log_tail_lines)
                    error = ItemError(stage="run", message=outcome.message or "", log=log)
                self._put(JobUpdate(job.item_id, outcome.state, run_id=job.run_id, error=error))
                logger.info(
                    "container ended",
                    extra={"item": job.item_id, "exit_code": state.get("ExitCode")},
                )
        await self._remove(job.container_id)
        job.ended.set()

    async def _remove(self, container_id: str) -> None:
        def remove() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.containers.get(container_id).remove(force=True)

        try:
            await asyncio.to_thread(remove)
        except docker.errors.DockerException as exc:
            logger.warning("cannot remove container", extra={"id": container_id, "error": str(exc)})

    async def cancel(self, item_id: str) -> None:
        """Stop the item's container (SIGTERM, SIGKILL after the grace period) and remove it."""
        job = self._jobs.get(item_id)
        self._pinned.pop(item_id, None)
        if job is None:
            if item_id in self._launching:
                self._dropped.add(item_id)
            # A leftover whose item ended meanwhile (e.g. canceled while no agent ran).
            for container in await self._ours(item_id):
                await self._remove(container.id)
            return
        job.canceled = True
        grace = int(self.settings.stop_grace_s)

        def stop() -> None:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.containers.get(job.container_id).stop(timeout=grace)

        try:
            await asyncio.to_thread(stop)
        except docker.errors.DockerException as exc:
            logger.warning("cannot stop container", extra={"item": item_id, "error": str(exc)})
            await self._remove(job.container_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.ended.wait(), grace + 30)
        logger.info("canceled", extra={"item": item_id, "container": job.container_id[:12]})

    async def stop(self) -> None:
        """Stop watching; the containers keep running for the next agent to adopt."""
        self._stopping.set()
        for job in list(self._jobs.values()):
            if job.log_stream is not None:
                with contextlib.suppress(Exception):
                    job.log_stream.close()
        self._jobs.clear()
        if self._client is not None:
            self._client.close()
