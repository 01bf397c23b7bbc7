"""Writing runs and projects: upsert a run (W&B's `upsertBucket`), its files, deleting it."""

from __future__ import annotations

import logging

from sqlalchemy import select

from runyard.server.access import Action, require
from runyard.server.artifacts.deletion import delete_created_by
from runyard.server.auth import Principal
from runyard.server.db.history_segment_models import HistorySegment
from runyard.server.db.models import DeletedRun, Entity, Project, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.attribution import attribution_for
from runyard.server.tracking import direct_uploads, filestream, forks
from runyard.server.tracking.files import register_run_files
from runyard.server.tracking.ids import decode_id
from runyard.server.tracking.run_reads import RunPath, read_run
from runyard.server.tracking.runs import (
    UpsertRunInput,
    find_project,
    find_run,
    get_or_create_project,
    run_by_id,
    upsert_run,
)
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)


def upsert_bucket(
    uow: UnitOfWork,
    principal: Principal,
    data: UpsertRunInput,
    *,
    wandb_username: str = "",
    wandb_user_email: str = "",
) -> tuple[Run, bool]:
    """Create or update a run (see `tracking.runs.upsert_run`); return it and if it is new.

    A service account's new run is attributed to the user the client names
    (WANDB_USERNAME / WANDB_USER_EMAIL) when that user belongs to the run's entity.
    """
    attributed = attribution_for(
        uow.session, principal, data.entity, wandb_username, wandb_user_email
    )
    run, inserted = upsert_run(
        uow.session,
        principal,
        data,
        max_value_bytes=uow.settings.max_value_bytes,
        attributed_user_id=attributed,
    )
    if data.config is not None:
        forks.apply_fork(uow.session, run, run.wandb_config or {})
    return run, inserted


def create_run_files(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    run_name: str,
    names: list[str],
    base_url: str,
) -> tuple[Run, list[tuple[str, str]]]:
    """Record files a run will upload; return the run and `(name, signed upload URL)` pairs."""
    require(principal, entity, Action.WRITE)
    proj = find_project(uow.session, entity, project)
    run = find_run(uow.session, proj, run_name) if proj else None
    if run is None:
        raise ServiceError(
            ErrorCode.INVALID,
            f"run {entity}/{project}/{run_name} does not exist: call upsertBucket first",
        )
    keys = register_run_files(uow.session, run, names)
    direct_uploads.run_files_reissued(uow, run, [name for name, _ in keys])
    return run, [(name, uow.signer.url(base_url, "PUT", key)) for name, key in keys]


def upsert_project(
    uow: UnitOfWork, principal: Principal, entity: str, name: str
) -> tuple[Project, bool]:
    """Create project `name` of `entity` if missing; return it and whether it was created."""
    require(principal, entity, Action.WRITE)
    found = uow.session.scalars(select(Entity).where(Entity.name == entity)).first()
    if found is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"entityName: entity {entity!r} does not exist")
    existed = find_project(uow.session, entity, name) is not None
    return get_or_create_project(uow.session, found, name), not existed


def delete_run(
    uow: UnitOfWork, principal: Principal, node_id: str, *, delete_artifacts: bool
) -> None:
    """Delete a run by node id with its history and files (and, if asked, its artifacts).

    Deleting is idempotent as on W&B, where the public API's `Run.delete()` may be called
    again (e.g. with `delete_artifacts`): the run's tombstone answers a repeat by a writer
    of its entity like the delete. To anyone else the id reads as no run, like a run of an
    entity they have no role in.
    """
    try:
        run = run_by_id(uow.session, principal, node_id, Action.WRITE)
    except ServiceError as exc:
        if exc.code is ErrorCode.NOT_FOUND and _deleted_before(uow, principal, node_id):
            logger.info("run already deleted", extra={"id": node_id})
            return
        raise
    deleted_artifacts = delete_created_by(uow.session, run, uow.now()) if delete_artifacts else 0
    # The archives a rewind kept are the run's own past: they go with it.
    archives = forks.lineage(uow, run).archives
    if archives:
        # The run names its newest archive as parent and each archive names the run: cut
        # the run's side first, so the deletes have an order.
        run.forked_from = None
        uow.session.flush()
    # Their Parquet exports go too, once the delete is committed (a rolled-back delete
    # keeps them); the rows that name them go with the runs.
    exports = uow.session.scalars(
        select(HistorySegment.object_key).where(
            HistorySegment.run_id.in_([run.id, *(a.id for a in archives)]),
            HistorySegment.object_key != "",
        )
    ).all()
    uow.after_commit(lambda: _delete_objects(uow, list(exports)))
    for archive in archives:
        uow.session.delete(archive)
    uow.session.merge(
        DeletedRun(run_id=run.id, entity_id=run.project.entity_id, deleted_at=uow.now())
    )
    uow.session.delete(run)
    uow.session.flush()
    logger.info(
        "run deleted",
        extra={"run": run.name, "project": run.project.name, "artifacts": deleted_artifacts},
    )


def _delete_objects(uow: UnitOfWork, keys: list[str]) -> None:
    """Remove objects no row names any more; one the store refuses stays, logged."""
    for key in keys:
        try:
            uow.objects.delete(key)
        except Exception:  # the delete is committed: a store hiccup only leaves an orphan
            logger.exception("object not deleted", extra={"key": key})


def _deleted_before(uow: UnitOfWork, principal: Principal, node_id: str) -> bool:
    """Whether the caller may write the entity of a run deleted under this node id."""
    tombstone = uow.session.get(DeletedRun, decode_id("Run", node_id))
    if tombstone is None:
        return False
    try:
        require(principal, tombstone.entity.name, Action.WRITE)
    except ServiceError:
        return False
    return True


def apply_file_stream(
    uow: UnitOfWork, principal: Principal, path: RunPath, body: filestream.FileStreamRequest
) -> bool:
    """Store a `file_stream` post (history, events, console, summary, state) of a run the
    caller may write; return whether the run was asked to stop."""
    run = read_run(uow, principal, path, Action.WRITE)
    filestream.apply_post(uow.session, run, body, uow.settings.max_value_bytes)
    # With a bucket store the server never saw those PUTs: learn their bytes from the bucket.
    direct_uploads.run_files_landed(uow, run, body.uploaded or [])
    return run.stop_requested
