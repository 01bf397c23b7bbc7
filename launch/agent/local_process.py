"""The local-process runner: each item runs as a process group on this machine.

It is the embedded default (`make run`). Every job runs through `wrapper`, which writes
the exit code to the job's folder; with the pid stored there too, an agent that restarts
finds the jobs an earlier agent started, adopts them and learns how they ended, without
polling (it waits on a pidfd). Each job is pinned to GPUs of its own (`CUDA_VISIBLE_DEVICES`,
`gpu_pinning.py`); `job.json` records them, so a restarted agent knows which are taken.
An item naming a W&B job (`run_spec.job`) runs the job's code in a cached venv of its
requirements (`code_jobs.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import ItemError, ItemState, QueueItem
from ..run_spec import entry_point_of, job_of
from .code_jobs import JobFetcher, job_command
from .gpu_pinning import visible_devices_env
from .local_base import LocalRunnerBase
from .run_env import local_env, run_id_for
from .runner import JobUpdate, LaunchError

logger = logging.getLogger(__name__)
TERMINATE_GRACE_S = 10.0


def args_of(run_spec: dict[str, Any]) -> list[str]:
    """The argument overrides an item adds to its entry point."""
    args = (run_spec.get("overrides") or {}).get("args") or []
    if isinstance(args, dict):
        args = [part for key, value in args.items() for part in (f"--{key}", str(value))]
    if not isinstance(args, list):
        raise LaunchError("launch", "run_spec.overrides.args must be a list or a mapping")
    return [str(a) for a in args]


def command_of(run_spec: dict[str, Any]) -> list[str]:
    """The command line an item runs: its entry point plus argument overrides."""
    entry = entry_point_of(run_spec)
    if not entry:
        image = (run_spec.get("docker") or {}).get("docker_image")
        hint = f" (it names the image {image}: use a kubernetes queue)" if image else ""
        raise LaunchError(
            "launch",
            "a local-process item needs run_spec.entry_point (or overrides.entry_point), "
            f"e.g. ['python', 'train.py']{hint}",
        )
    if not isinstance(entry, list) or not all(isinstance(p, str) for p in entry):
        raise LaunchError("launch", "run_spec.entry_point must be a list of strings")
    return [*entry, *args_of(run_spec)]


def tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a log file ('' if there is none)."""
    if lines <= 0 or not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Job:
    item_id: str
    folder: Path
    pid: int
    process: asyncio.subprocess.Process | None = None
    canceled: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class LocalProcessRunner(LocalRunnerBase):
    """Runs items as local processes; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        server_url: str,
        api_key: str,
        gpus: Sequence[int] | None,
        log_tail_lines: int = 50,
        venv_cache: Path | None = None,
    ) -> None:
        super().__init__(workdir, server_url, api_key, gpus, log_tail_lines)
        # Code jobs' environments, one per set of requirements, shared by later jobs.
        self.jobs = JobFetcher(
            server_url, api_key, (venv_cache or self.workdir / "venvs").resolve()
        )
        self._jobs: dict[str, _Job] = {}
        self._recover_pins()
        # Code jobs being prepared (those canceled meanwhile go in `_dropped`).
        self._preparing: set[str] = set()

    async def start(self, agent_id: str, updates: asyncio.Queue[JobUpdate]) -> None:
        """Remember where updates go."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._updates = updates

    def _recover_pins(self) -> None:
        # Jobs an earlier agent started may still run: their GPUs stay taken until they end.
        for job_file in sorted(self.workdir.glob("*/job.json")):
            folder = job_file.parent
            if (folder / "reported").exists() or (folder / "exitcode").exists():
                continue
            doc = json.loads(job_file.read_text())
            self._pinned[doc["item_id"]] = tuple(int(i) for i in doc.get("gpus") or ())

    async def recover(self) -> list[str]:
        """Items whose jobs an earlier agent started here and did not see end."""
        found = []
        for job_file in sorted(self.workdir.glob("*/job.json")):
            folder = job_file.parent
            if (folder / "reported").exists():
                continue
            found.append(json.loads(job_file.read_text())["item_id"])
        return found

    async def launch(self, item: QueueItem) -> None:
        """Start the item's process group and report launching, then running.

        A redelivered item whose process an earlier agent started here is adopted instead.
        """
        spec = item.run_spec
        wandb_job = job_of(spec)
        command = command_of(spec) if wandb_job is None else []
        folder = self.workdir / item.id
        if (folder / "job.json").exists() and not (folder / "reported").exists():
            logger.info("adopting a process started earlier", extra={"item": item.id})
            await self.resume(item)
            return
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("exitcode", "reported"):
            (folder / stale).unlink(missing_ok=True)
        run_id = run_id_for(item)
        # Pinned before anything slow (a code job's venv): capacity must count them at once.
        indices = self._pin(item)
        try:
            await self._start(item, folder, run_id, indices, command, wandb_job)
        except BaseException:
            self._pinned.pop(item.id, None)
            raise

    async def _start(
        self,
        item: QueueItem,
        folder: Path,
        run_id: str,
        indices: tuple[int, ...],
        command: list[str],
        wandb_job: str | None,
    ) -> None:
        spec = item.run_spec
        env = {**os.environ, **local_env(item, self.server_url, self.api_key, run_id)}
        env.update(visible_devices_env(indices, self.gpus or []))
        cwd = Path(spec.get("cwd") or folder)
        self._put(JobUpdate(item.id, ItemState.LAUNCHING))
        if wandb_job is not None:
            logger.info("preparing code job", extra={"item": item.id, "job": wandb_job})
            self._preparing.add(item.id)
            try:
                source, cwd, python = await self.jobs.prepare(
                    wandb_job,
                    str(spec.get("entity") or item.entity),
                    str(spec.get("project") or "uncategorized"),
                    folder,
                    folder / "output.log",
                )
            finally:
                self._preparing.discard(item.id)
                dropped = item.id in self._dropped
                self._dropped.discard(item.id)
            entry = entry_point_of(spec) or source.entrypoint
            command = job_command(entry, str(python), args_of(spec))
            env["VIRTUAL_ENV"] = str(python.parent.parent)
            env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
            if dropped:  # canceled while preparing: start nothing
                logger.info("canceled before it started", extra={"item": item.id})
                self._pinned.pop(item.id, None)
                return
        with (folder / "output.log").open("ab") as log:
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "runyard.launch.agent.wrapper",
                    str(folder / "exitcode"),
                    "--",
                    *command,
                    cwd=cwd,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,  # its own process group: cancel stops it all
                )
            except OSError as exc:
                raise LaunchError("launch", f"cannot start {command[0]}: {exc}") from exc
        job_doc = {
            "item_id": item.id,
            "pid": process.pid,
            "run_id": run_id,
            "command": command,
            "gpus": list(indices),
        }
        (folder / "job.json").write_text(json.dumps(job_doc))
        job = _Job(item.id, folder, process.pid, process=process)
        self._jobs[item.id] = job
        logger.info(
            "launched",
            extra={"item": item.id, "pid": process.pid, "run_id": run_id, "gpus": indices},
        )
        self._put(JobUpdate(item.id, ItemState.RUNNING, run_id=run_id))
        job.watcher = asyncio.create_task(self._watch(job, run_id))

    async def resume(self, item: QueueItem) -> None:
        """Watch a job an earlier agent started (its pid may have exited already)."""
        folder = self.workdir / item.id
        doc = json.loads((folder / "job.json").read_text())
        job = _Job(item.id, folder, int(doc["pid"]))
        self._jobs[item.id] = job
        if self.gpus is not None:
            # The GPUs its job was started with (job.json), whatever is free now.
            self._pinned[item.id] = tuple(int(i) for i in doc.get("gpus") or ())
        if item.state in (ItemState.CLAIMED, ItemState.LAUNCHING):
            self._put(JobUpdate(item.id, ItemState.RUNNING, run_id=doc["run_id"]))
        job.watcher = asyncio.create_task(self._watch(job, doc["run_id"]))

    async def _watch(self, job: _Job, run_id: str) -> None:
        if job.process is not None:
            await job.process.wait()
        else:
            await _wait_for_pid(job.pid)
        self._jobs.pop(job.item_id, None)
        self._pinned.pop(job.item_id, None)
        if job.canceled:
            (job.folder / "reported").touch()
            return
        exit_file = job.folder / "exitcode"
        code = int(exit_file.read_text()) if exit_file.exists() else None
        if code == 0:
            self._put(JobUpdate(job.item_id, ItemState.FINISHED, run_id=run_id))
        else:
            how = f"exited with code {code}" if code is not None else "was killed"
            if code is not None and code < 0:
                how = f"was killed by signal {signal.Signals(-code).name}"
            error = ItemError(
                stage="run",
                message=f"the job's process {how}",
                log=tail(job.folder / "output.log", self.log_tail_lines),
            )
            self._put(JobUpdate(job.item_id, ItemState.FAILED, run_id=run_id, error=error))
        (job.folder / "reported").touch()

    async def cancel(self, item_id: str) -> None:
        """Terminate the item's process group (SIGTERM, then SIGKILL after a grace period)."""
        job = self._jobs.get(item_id)
        if job is None:
            if item_id in self._preparing:
                self._dropped.add(item_id)  # a code job still preparing must not start
            # A leftover whose item ended (e.g. canceled while no agent ran): stop it, and
            # don't offer it for adoption again.
            job_file = self.workdir / item_id / "job.json"
            if job_file.exists():
                if not (job_file.parent / "exitcode").exists():
                    _signal_group(int(json.loads(job_file.read_text())["pid"]), signal.SIGTERM)
                (job_file.parent / "reported").touch()
            self._pinned.pop(item_id, None)
            return
        job.canceled = True
        _signal_group(job.pid, signal.SIGTERM)
        if job.watcher is not None:
            try:
                await asyncio.wait_for(asyncio.shield(job.watcher), TERMINATE_GRACE_S)
            except TimeoutError:
                _signal_group(job.pid, signal.SIGKILL)
        logger.info("canceled", extra={"item": item_id, "pid": job.pid})

    async def stop(self) -> None:
        """Stop watching; the processes keep running for the next agent to adopt."""
        for job in list(self._jobs.values()):
            if job.watcher is not None:
                job.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job.watcher


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


async def _wait_for_pid(pid: int) -> None:
    """Wait until a process that is not our child exits (pidfd: readable on exit)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, exited)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
