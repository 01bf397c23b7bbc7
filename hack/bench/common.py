"""Shared pieces of the benchmarks: a server in its own process, CPU accounting, databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "runyard-" + "b" * 40
PG_ADMIN_DSN = os.environ.get(
    "RUNYARD_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
)


REDIS_URL = os.environ.get("RUNYARD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    """A TCP port free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds used so far by a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process so far, in MiB (Linux /proc VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (Linux /proc children lists)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live descendants (reaped ones included by the OS)."""
    total = 0.0
    for each in tree_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks = os.sysconf("SC_CLK_TCK")
        # utime + stime, plus cutime + cstime of children that exited and were waited for.
        total += sum(int(f) for f in fields[11:15]) / ticks
    return total


def tree_peak_rss_mb(pid: int) -> float:
    """Sum of the peak resident memory of a process and its descendants, in MiB."""
    return sum(peak_rss_mb(each) for each in tree_pids(pid) if Path(f"/proc/{each}").exists())


class BackendCpu:
    """CPU seconds the PostgreSQL backends of one database use, sampled from /proc.

    Backends come and go with the server's pool; a thread notes each one's CPU time every
    quarter second, so at most the last quarter second of a closed backend is missed.
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = False
        self._thread: threading.Thread | None = None

    def _sample(self, conn: psycopg.Connection[tuple[int]], start: bool = False) -> None:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.database,),
        ).fetchall()
        for (pid,) in rows:
            try:
                seconds = cpu_seconds(pid)
            except (OSError, IndexError):
                continue
            # A backend opened after the start counts from zero.
            self.first.setdefault(pid, seconds if start else 0.0)
            self.last[pid] = seconds

    def __enter__(self) -> BackendCpu:
        conn = psycopg.connect(PG_ADMIN_DSN, autocommit=True)
        self._sample(conn, start=True)

        def loop() -> None:
            with conn:
                while not self._stop:
                    self._sample(conn)
                    time.sleep(0.25)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join()

    def seconds(self) -> float:
        """CPU seconds used by the database's backends since entering."""
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database; yields its SQLAlchemy URL."""
    name = f"runyard_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = dict(p.split("=", 1) for p in PG_ADMIN_DSN.split())
    try:
        yield f"postgresql+psycopg://{params['user']}@{params['host']}:{params['port']}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(backend: str) -> Iterator[str | None]:
    """`None` (SQLite in the data dir) or a throwaway PostgreSQL URL."""
    if backend == "sqlite":
        yield None
    else:
        with postgres_database() as url:
            yield url


class ServerProcess:
    """`runyard server` in a child process with its own data dir."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        extra_env: dict[str, str] | None = None,
        python: str = sys.executable,
        cwd: Path | None = None,
        ready_timeout_s: float = 240,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{(data_dir / 'runyard.db').resolve()}"
        env = {
            **os.environ,
            "RUNYARD_DATA_DIR": str(data_dir),
            "RUNYARD_PORT": str(self.port),
            "RUNYARD_ADMIN_API_KEY": ADMIN_KEY,
            "RUNYARD_LOG_LEVEL": "warning",
        }
        if database_url:
            env["RUNYARD_DATABASE_URL"] = database_url
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [python, "-m", "runyard.cli", "server"],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # On a shared 2-core machine a server can take minutes to start.
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def api(self) -> httpx.Client:
        """Native API client as the admin."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60
        )

    def stop(self) -> None:
        """Terminate the server."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextmanager
def server(backend: str, cwd: Path | None = None) -> Iterator[ServerProcess]:
    """A server process on `backend` with fresh data.

    "sqlite" and "postgres" name the database; "redis" is SQLite plus launch queues in
    Redis under a key prefix of its own. `cwd`: a checkout whose `runyard` package the
    server imports instead of the installed one (an older revision, for before/after).
    """
    extra = {}
    if backend == "redis":
        extra = {
            "RUNYARD_QUEUE_REDIS_URL": REDIS_URL,
            "RUNYARD_QUEUE_REDIS_PREFIX": f"runyard-bench:{uuid.uuid4().hex}:",
        }
    db_backend = "postgres" if backend == "postgres" else "sqlite"
    with tempfile.TemporaryDirectory(prefix="runyard-bench-") as tmp, database(db_backend) as url:
        proc = ServerProcess(Path(tmp), url, extra, cwd=cwd)
        try:
            yield proc
        finally:
            proc.stop()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
