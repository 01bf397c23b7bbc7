"""A throwaway PostgreSQL database per test session: the local service, or a private server.

The machines of this project run PostgreSQL on 127.0.0.1:5432 with trust auth. Elsewhere
a private server is started from the PostgreSQL binaries on PATH (or Debian's
/usr/lib/postgresql/*/bin). Without either, tests skip loudly, except under CI,
where they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from support.server import free_port

LOCAL_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def _reachable(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn):
            return True
    except psycopg.OperationalError:
        return False


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextmanager
def _private_server() -> Iterator[str]:
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("no PostgreSQL on 127.0.0.1:5432 and no initdb/pg_ctl on PATH")
    root = Path(tempfile.mkdtemp(prefix="runyard-pg-"))
    if os.geteuid() == 0:
        raise RuntimeError("cannot start a private PostgreSQL as root; start the local service")
    port = free_port()
    subprocess.run(
        [initdb, "-D", str(root / "data"), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            pg_ctl,
            "-D",
            str(root / "data"),
            "-o",
            f"-p {port} -k {root} -h 127.0.0.1",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(root / "data"), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin DSN of a reachable PostgreSQL server."""
    if _reachable(LOCAL_DSN):
        yield LOCAL_DSN
        return
    with _private_server() as dsn:
        yield dsn


@contextmanager
def throwaway_database(admin_dsn: str) -> Iterator[str]:
    """Create a uniquely named database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"runyard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = dict(part.split("=", 1) for part in admin_dsn.split())
    url = f"postgresql+psycopg://{params['user']}@{params['host']}:{params['port']}/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
