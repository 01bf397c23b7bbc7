"""A Redis server for tests: the machine's service, or a private one started from PATH."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

LOCAL_URL = os.environ.get("RUNYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield a Redis URL; tests share it but use unique key prefixes."""
    host_port = LOCAL_URL.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    if _reachable(host, int(port or 6379)):
        yield LOCAL_URL
        return
    binary = shutil.which("redis-server")
    if binary is None:
        message = "no Redis at 127.0.0.1:6379 and no redis-server on PATH"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="runyard-redis-") as data:
        proc = subprocess.Popen(
            [binary, "--port", str(free), "--bind", "127.0.0.1", "--save", "", "--dir", data],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not _reachable("127.0.0.1", free):
                if time.monotonic() > deadline:
                    raise RuntimeError("private redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{free}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
