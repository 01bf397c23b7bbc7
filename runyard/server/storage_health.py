"""Whether the server can write: set when a write fails on a full or read-only storage.

A request that fails that way answers 507 and marks the server not ready; `/readyz` then
probes with a small write to the data dir and to the database and reports ready again as
soon as both succeed, so freeing space needs no restart.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from runyard.server.clock import utcnow
from runyard.server.db.models import ServerSecret
from runyard.server.failures import storage_reason

logger = logging.getLogger(__name__)

PROBE_BYTES = 64 * 1024
PROBE_ROW = "storage-probe"


class StorageHealth:
    """The last storage failure's reason, until a probe write succeeds (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None

    @property
    def reason(self) -> str | None:
        """Why writes fail now, or None when they were last seen to work."""
        with self._lock:
            return self._reason

    def failed(self, reason: str) -> None:
        """Record that a write failed on a full or read-only storage."""
        with self._lock:
            first = self._reason is None
            self._reason = reason
        if first:
            logger.error("storage refuses writes; not ready", extra={"reason": reason})

    def recovered(self) -> None:
        """Record that writes work again."""
        with self._lock:
            was, self._reason = self._reason, None
        if was is not None:
            logger.info("storage accepts writes again; ready", extra={"was": was})


def probe_data_dir(data_dir: Path) -> str | None:
    """Write and remove a small file in the data dir; return why that failed, or None."""
    try:
        fd, name = tempfile.mkstemp(dir=data_dir, prefix=".probe-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(b"\0" * PROBE_BYTES)
        finally:
            Path(name).unlink(missing_ok=True)
    except OSError as exc:
        return storage_reason(exc) or f"data dir {data_dir}: {exc}"
    return None


def probe_database(sessions: sessionmaker[Session]) -> str | None:
    """Commit one small row update; return why it failed, or None."""
    try:
        with sessions.begin() as session:
            probe = select(ServerSecret).where(ServerSecret.name == PROBE_ROW)
            row = session.scalars(probe).first()
            if row is None:
                row = ServerSecret(name=PROBE_ROW, value="")
                session.add(row)
            row.value = utcnow().isoformat()
    except Exception as exc:  # any failure to write means not ready; the reason says which
        return storage_reason(exc) or f"database write failed: {type(exc).__name__}"
    return None


def check_writable(
    health: StorageHealth, dirs: list[Path], sessions: sessionmaker[Session]
) -> None:
    """Probe the data dirs always, and the database while a failure is recorded; update health."""
    reason = next((r for r in map(probe_data_dir, dirs) if r is not None), None)
    if reason is None and health.reason is not None:
        reason = probe_database(sessions)
    if reason is None:
        health.recovered()
    else:
        health.failed(reason)
