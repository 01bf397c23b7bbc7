"""Whether this server may take traffic: the database answers, storage takes writes, and
the bucket (when files live in one) answers."""

from __future__ import annotations

from pathlib import Path

from runyard.server.storage_health import StorageHealth, check_writable
from runyard.server.store_factory import direct_store
from runyard.server.unit_of_work import UnitOfWork


def not_ready_reason(uow: UnitOfWork, health: StorageHealth) -> str | None:
    """Why the server is not ready (None: ready).

    A full or read-only storage keeps it not ready while it lasts; it is ready again once a
    probe write succeeds (space freed, volume writable), without a restart.
    """
    try:
        uow.ping()
    except Exception as exc:  # any database failure means not ready
        return f"database unreachable: {type(exc).__name__}"
    dirs = [uow.settings.data_dir]
    store_root = getattr(uow.objects, "root", None)  # the filesystem object store's folder
    if isinstance(store_root, Path) and store_root != uow.settings.data_dir:
        dirs.append(store_root)
    check_writable(health, dirs, uow.state.write_sessions)
    if health.reason is not None:
        return f"storage is full or read-only: {health.reason}"
    bucket = direct_store(uow.objects)
    if bucket is not None:
        reason = bucket.not_ready_reason()
        if reason is not None:
            return f"object store: {reason}"
    return None
