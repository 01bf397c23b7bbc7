"""The local agent `make run` starts beside the server: a `default` local-process queue
and a `runyard agent` subprocess serving it, so `wandb launch -q default` just works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from runyard.launch.models import QueueSpec
from runyard.server.auth import new_api_key
from runyard.server.clock import utcnow
from runyard.server.db.models import Entity
from runyard.server.state import ServerState
from runyard.server.tracking.runs import get_or_create_project

QUEUE = "default"
KEY_FILE = "local-agent.key"
# The local agent's heartbeat interval and claim long-poll (seconds), e.g. to watch many idle
# cycles quickly; unset: the agent's defaults (10 and 30).
HEARTBEAT_ENV = "RUNYARD_LOCAL_AGENT_HEARTBEAT_S"
CLAIM_WAIT_ENV = "RUNYARD_LOCAL_AGENT_CLAIM_WAIT_S"


def timing_flags(environ: dict[str, str]) -> list[str]:
    """`runyard agent` flags for the local agent's cycle lengths set in the environment."""
    flags = []
    for env, flag in ((HEARTBEAT_ENV, "--heartbeat-interval"), (CLAIM_WAIT_ENV, "--claim-wait")):
        if environ.get(env):
            flags += [flag, environ[env]]
    return flags


def ensure_queue(state: ServerState) -> str:
    """Create the admin's `default` local-process queue if missing; returns `entity/name`."""
    entity = state.settings.admin_username
    store = state.queue_store
    if store.get_queue(entity, QUEUE) is None:
        spec = QueueSpec(name=QUEUE, entity=entity, resource="local-process")
        with state.write_sessions.begin() as session:
            owner = session.scalars(select(Entity).where(Entity.name == entity)).one()
            get_or_create_project(session, owner, spec.project)
        store.create_queue(spec, utcnow())
    return f"{entity}/{QUEUE}"


def agent_key(state: ServerState) -> str:
    """The local agent's API key: made once, kept (mode 0600) in the data dir."""
    path: Path = state.settings.data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    with state.sessions() as session:
        key = new_api_key(session, state.settings.admin_username, "local agent (make run)")
        session.commit()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def spawn(state: ServerState, url: str) -> subprocess.Popen[bytes]:
    """Start `runyard agent` for the default queue; it retries until the server answers."""
    queue = ensure_queue(state)
    env = {**os.environ, "RUNYARD_URL": url, "RUNYARD_API_KEY": agent_key(state)}
    workdir = (state.settings.data_dir / "agent").resolve()
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runyard.cli",
            "agent",
            "-q",
            queue,
            "--workdir",
            str(workdir),
            "--name",
            "local",
            *timing_flags(dict(os.environ)),
        ],
        env=env,
    )
