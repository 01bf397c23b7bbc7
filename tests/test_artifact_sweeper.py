"""The artifact sweeper on both databases, without a client: replicas sweeping at once
expire each version once, and blob GC removes bytes only when no live version uses them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from runyard.server.artifacts import deletion
from runyard.server.artifacts.sweeper import SweepResult, sweep_once
from runyard.server.db.models import (
    Artifact,
    ArtifactAlias,
    ArtifactBlobOrphan,
    ArtifactCollection,
    ArtifactFile,
    Entity,
)
from runyard.server.settings import ServerSettings
from runyard.server.state import ServerState, open_state
from runyard.server.tracking.runs import get_or_create_project
from runyard.server.unit_of_work import UnitOfWork
from support.postgres import throwaway_database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VERSIONS = 12


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerState]:
    """An opened server state on each database backend, with small sweep batches."""
    settings = {"data_dir": tmp_path, "artifact_sweep_batch": 5, "artifact_gc_grace_s": 600}
    if request.param == "sqlite":
        opened = open_state(ServerSettings(**settings))  # type: ignore[arg-type]
        yield opened
        opened.engine.dispose()
        return
    dsn: str = request.getfixturevalue("postgres_admin_dsn")
    with throwaway_database(dsn) as url:
        opened = open_state(ServerSettings(database_url=url, **settings))  # type: ignore[arg-type]
        yield opened
        opened.engine.dispose()


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


def _store(state: ServerState, key: str, data: bytes) -> None:
    asyncio.run(state.store.put_stream(key, _chunks(data), len(data)))


def _versions(state: ServerState) -> list[int]:
    """VERSIONS committed versions of one collection, each with its own file and one file
    whose bytes they all share (stored once, under v0), expiring an hour apart."""
    ids: list[int] = []
    with UnitOfWork(state, write=True) as uow:
        admin = uow.session.scalars(select(Entity).where(Entity.name == "admin")).one()
        project = get_or_create_project(uow.session, admin, "sweeps")
        collection = ArtifactCollection(project_id=project.id, name="ds", type_name="dataset")
        uow.session.add(collection)
        uow.session.flush()
        shared_key = ""
        for index in range(VERSIONS):
            artifact = Artifact(
                collection_id=collection.id,
                client_id=f"c{index}",
                version_index=index,
                state="COMMITTED",
                digest=f"d{index}",
                created_at=T0,
                ttl_is_inherited=False,
                ttl_duration_seconds=3600 * (index + 1),
                expires_at=T0 + timedelta(hours=index + 1),
            )
            uow.session.add(artifact)
            uow.session.flush()
            ids.append(artifact.id)
            own_key = f"artifacts/{artifact.id}/files/own.txt"
            shared_key = shared_key or f"artifacts/{artifact.id}/files/shared.txt"
            for name, key in (("own.txt", own_key), ("shared.txt", shared_key)):
                uow.session.add(
                    ArtifactFile(
                        artifact_id=artifact.id,
                        name=name,
                        md5_b64=key,
                        storage_key=key,
                        size=4,
                        uploaded=True,
                    )
                )
            _store(state, own_key, b"own!")
            _store(state, f"artifacts/{artifact.id}/manifest/wandb_manifest.json", b"{}")
        _store(state, shared_key, b"both")
        uow.session.add(
            ArtifactAlias(collection_id=collection.id, alias="latest", artifact_id=ids[-1])
        )
    return ids


def _sweep_as_replicas(state: ServerState, at: datetime, replicas: int = 3) -> list[SweepResult]:
    with ThreadPoolExecutor(replicas) as pool:
        return list(pool.map(lambda _: sweep_once(state, at), range(replicas)))


def _states(state: ServerState, ids: list[int]) -> list[str]:
    with UnitOfWork(state) as uow:
        rows = {
            a.id: a.state for a in uow.session.scalars(select(Artifact).where(Artifact.id.in_(ids)))
        }
    return [rows[i] for i in ids]


def test_replicas_sweeping_at_once_expire_each_version_once_and_free_bytes_once(
    state: ServerState,
) -> None:
    ids = _versions(state)
    objects = state.settings.data_dir / "objects"
    # Ten and a half hours in: the first ten versions are past their TTL.
    at = T0 + timedelta(hours=10, minutes=30)
    results = _sweep_as_replicas(state, at)
    assert sum(r.expired for r in results) == 10
    assert _states(state, ids) == ["DELETED"] * 10 + ["COMMITTED"] * 2
    # Within the grace period no bytes went.
    assert sum(r.blobs_removed for r in results) == 0
    assert (objects / f"artifacts/{ids[0]}/files/own.txt").is_file()

    later = at + timedelta(seconds=state.settings.artifact_gc_grace_s)
    results = _sweep_as_replicas(state, later)
    # Each expired version's own file and manifest, removed by exactly one replica.
    assert sum(r.blobs_removed for r in results) == 20
    assert sum(r.bytes_freed for r in results) == 10 * (4 + 2)
    for version in ids[:10]:
        assert not (objects / f"artifacts/{version}/files/own.txt").exists()
        assert not (objects / f"artifacts/{version}/manifest").exists()
    # The shared bytes live under v0's prefix, and v10 and v11 still use them.
    assert (objects / f"artifacts/{ids[0]}/files/shared.txt").read_bytes() == b"both"
    assert (objects / f"artifacts/{ids[10]}/files/own.txt").is_file()
    with UnitOfWork(state) as uow:
        assert uow.session.scalars(select(ArtifactBlobOrphan)).all() == []
        latest = uow.session.scalars(
            select(ArtifactAlias).where(ArtifactAlias.alias == "latest")
        ).one()
        assert latest.artifact_id == ids[-1]


def test_a_candidate_referenced_again_is_kept(state: ServerState) -> None:
    ids = _versions(state)
    objects = state.settings.data_dir / "objects"
    with UnitOfWork(state, write=True) as uow:
        # The last version goes (with `latest`, which moves back to v10) ...
        last = uow.session.get(Artifact, ids[-1])
        assert last is not None
        assert deletion.delete_version(uow.session, last, T0, delete_aliases=True)
        # ... and deleting it again changes nothing.
        assert not deletion.delete_version(uow.session, last, T0, delete_aliases=True)
    own = f"artifacts/{ids[-1]}/files/own.txt"
    with UnitOfWork(state, write=True) as uow:
        # Before the sweep, another version takes up its bytes (a dedup by digest).
        uow.session.add(
            ArtifactFile(
                artifact_id=ids[0],
                name="copy.txt",
                md5_b64=own,
                storage_key=own,
                size=4,
                uploaded=True,
            )
        )
    result = sweep_once(state, T0 + timedelta(seconds=state.settings.artifact_gc_grace_s))
    # Only its manifest went; the bytes another version now uses stay.
    assert (result.blobs_removed, result.bytes_freed) == (1, 2)
    assert (objects / own).read_bytes() == b"own!"
    with UnitOfWork(state) as uow:
        latest = uow.session.scalars(
            select(ArtifactAlias).where(ArtifactAlias.alias == "latest")
        ).one()
        assert latest.artifact_id == ids[-2]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_edits_migration_goes_down_and_up_beside_a_shared_column(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from runyard.server.db import migrate
    from runyard.server.db.engine import make_engine

    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'edits.db'}"
        else:
            url = stack.enter_context(
                throwaway_database(request.getfixturevalue("postgres_admin_dsn"))
            )
        engine = make_engine(url)
        stack.callback(engine.dispose)

        def columns(table: str) -> set[str]:
            return {c["name"] for c in inspect(engine).get_columns(table)}

        migrate.upgrade(engine)
        assert {"tags", "ttl_duration_seconds", "expires_at", "deleted_at"} <= columns("artifacts")
        config = migrate.alembic_config(engine)
        command.downgrade(config, "0008-1")
        assert "expires_at" not in columns("artifacts")
        assert "ttl_duration_seconds" not in columns("artifact_collections")
        # Description and tags stay (the registry's migration adds them too); going up again
        # finds them there and adds the rest.
        assert {"description", "tags"} <= columns("artifact_collections")
        migrate.upgrade(engine)
        assert {"description", "tags", "ttl_duration_seconds"} <= columns("artifact_collections")
        assert "expires_at" in columns("artifacts")


def test_deleting_a_pending_distributed_version_frees_its_manifest_parts_and_draft(
    state: ServerState,
) -> None:
    from runyard.server.db.artifact_drafts import ArtifactDistributedDraft, ArtifactManifestPart

    ids = _versions(state)
    objects = state.settings.data_dir / "objects"
    with UnitOfWork(state, write=True) as uow:
        pending = Artifact(
            collection_id=uow.session.get(Artifact, ids[0]).collection_id,  # type: ignore[union-attr]
            client_id="pending",
            state="PENDING",
            digest="p",
        )
        uow.session.add(pending)
        uow.session.flush()
        key = f"artifacts/{pending.id}/manifest/parts/1.json"
        uow.session.add(ArtifactManifestPart(artifact_id=pending.id, kind="PATCH", storage_key=key))
        uow.session.add(
            ArtifactDistributedDraft(
                collection_id=pending.collection_id, distributed_id="d1", artifact_id=pending.id
            )
        )
        pending_id = pending.id
    _store(state, key, b"{}")
    with UnitOfWork(state, write=True) as uow:
        doomed = uow.session.get(Artifact, pending_id)
        assert doomed is not None
        assert deletion.delete_version(uow.session, doomed, T0, delete_aliases=False)
    with UnitOfWork(state) as uow:
        assert uow.session.scalars(select(ArtifactDistributedDraft)).all() == []
    sweep_once(state, T0 + timedelta(seconds=state.settings.artifact_gc_grace_s))
    assert not (objects / key).exists()
    # The committed versions lost nothing.
    assert (objects / f"artifacts/{ids[0]}/files/own.txt").is_file()
