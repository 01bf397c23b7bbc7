"""Several real `runyard server` processes on one PostgreSQL database and one Redis, and a
round-robin TCP proxy in front of them (what a Kubernetes Service does for the replicas).

The processes are real (`python -m runyard.cli server`), so `kill -9` is a real crash: no
shutdown hook runs, open requests are cut, held database locks go with the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from support.server import free_port

ADMIN_KEY = "replicas_" + "k" * 40


def cluster_environment(
    database_url: str, redis_url: str | None, prefix: str, replicas: int, data_dir: Path
) -> dict[str, str]:
    """RUNYARD_* settings every replica of one cluster shares."""
    env = {
        "RUNYARD_DATABASE_URL": database_url,
        "RUNYARD_DATA_DIR": str(data_dir),  # files: one shared directory (an RWX volume)
        "RUNYARD_REPLICAS": str(replicas),
        "RUNYARD_SIGNING_SECRET": secrets.token_hex(32),
        "RUNYARD_SECRETS_KEY": Fernet.generate_key().decode(),
        "RUNYARD_ADMIN_API_KEY": ADMIN_KEY,
        "RUNYARD_LEASE_CHECK_INTERVAL_S": "0.5",
        "RUNYARD_LOG_LEVEL": "warning",
    }
    if redis_url:
        env["RUNYARD_QUEUE_REDIS_URL"] = redis_url
        env["RUNYARD_QUEUE_REDIS_PREFIX"] = prefix
    return env


class ServerProcess:
    """One `runyard server` process on its own port."""

    def __init__(
        self, name: str, env: Mapping[str, str], log_dir: Path, own_data_dir: bool = False
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        self._env = {**os.environ, **env, "RUNYARD_PORT": str(self.port)}
        if own_data_dir:  # files in a bucket: nothing on disk is shared (one volume per pod)
            self._env["RUNYARD_DATA_DIR"] = str(log_dir / f"{name}-data")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Start the process (returns at once; see `wait_ready`)."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runyard.cli", "server"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 180) -> None:
        """Wait until /readyz answers 200; fail with the server's log when it exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """Stop politely, then for sure."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def api(self) -> httpx.Client:
        """A native-API client for this replica."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
        )


@contextmanager
def replica_cluster(
    env: Mapping[str, str], count: int, log_dir: Path, own_data_dirs: bool = False
) -> Iterator[list[ServerProcess]]:
    """`count` replicas started together (they race to migrate the fresh database)."""
    servers = [ServerProcess(f"replica-{i}", env, log_dir, own_data_dirs) for i in range(count)]
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


class RoundRobinProxy:
    """A TCP proxy spreading connections over backends; a dead backend is skipped."""

    def __init__(self, backends: list[int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self.connections = [0] * len(backends)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stop: asyncio.Event | None = None
        self._open: set[asyncio.Task[None]] = set()

    def __enter__(self) -> RoundRobinProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
            for task in list(self._open):
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self._backends)):
            index = next(self._next)
            try:
                pair = await asyncio.open_connection("127.0.0.1", self._backends[index])
            except OSError:
                continue
            self.connections[index] += 1
            return pair
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        task.add_done_callback(self._open.discard)
        upstream = await self._connect()
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
