"""Run files: where they are stored and what the database records about them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from runyard.server.clock import utcnow
from runyard.server.db.models import Run, RunFile
from runyard.server.input_limits import check_file_name
from runyard.server.tracking.runs import TrackingError

RUN_FILE_PREFIX = "runs/"


def run_file_key(run: Run, name: str) -> str:
    """Object-store key of a run file; names may contain `/` but never `..`."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise TrackingError(f"files: {name!r} is not a valid relative file name")
    return f"{RUN_FILE_PREFIX}{run.id}/files/{name}"


def register_run_files(session: Session, run: Run, names: list[str]) -> list[tuple[str, str]]:
    """Record that `names` will be uploaded for `run`; return `(name, object key)` pairs."""
    keys = [(check_file_name(name, "files"), run_file_key(run, name)) for name in names]
    existing = {f.name: f for f in session.scalars(select(RunFile).where(RunFile.run_id == run.id))}
    for name, _ in keys:
        if name not in existing:
            session.add(RunFile(run_id=run.id, name=name))
    session.flush()
    return keys


def record_upload(sessions: sessionmaker[Session], key: str, size: int, md5_hex: str) -> None:
    """Mark a run file as uploaded once its bytes are stored."""
    if not key.startswith(RUN_FILE_PREFIX):
        return
    run_part, _, name = key[len(RUN_FILE_PREFIX) :].partition("/files/")
    if not run_part.isdigit() or not name:
        return
    with sessions.begin() as session:
        row = session.scalars(
            select(RunFile).where(RunFile.run_id == int(run_part), RunFile.name == name)
        ).first()
        if row is None:
            row = RunFile(run_id=int(run_part), name=name)
            session.add(row)
        row.size = size
        row.md5 = md5_hex
        row.uploaded = True
        row.updated_at = utcnow()
