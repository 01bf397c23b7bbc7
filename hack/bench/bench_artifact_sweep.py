"""The artifact sweeper's throughput: expiring versions past their TTL, then collecting the
bytes they leave behind (blob GC), in the batches every replica runs.

Usage: python hack/bench/bench_artifact_sweep.py [--backend sqlite|postgres]
       [--versions 10000] [--batch 500]

Each version has its own file and shares one file with all the others (stored once), like
re-logged datasets whose files mostly stay the same; all but the newest tenth are past their
TTL. The first sweeps expire them (the grace period keeps the bytes); sweeps after the grace
remove each expired version's own file and manifest and keep the shared file, which the
versions left still use.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import database
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select

from runyard.server.artifacts.sweeper import sweep_once
from runyard.server.db.models import Artifact, ArtifactCollection, ArtifactFile, Entity
from runyard.server.settings import ServerSettings
from runyard.server.state import ServerState, open_state
from runyard.server.tracking.runs import get_or_create_project
from runyard.server.unit_of_work import UnitOfWork

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed(state: ServerState, versions: int) -> None:
    """`versions` expired versions of one collection, with their bytes in the object store."""
    objects = state.settings.data_dir / "objects"
    with UnitOfWork(state, write=True) as uow:
        admin = uow.session.scalars(select(Entity).where(Entity.name == "admin")).one()
        project = get_or_create_project(uow.session, admin, "bench")
        collection = ArtifactCollection(project_id=project.id, name="ds", type_name="dataset")
        uow.session.add(collection)
        uow.session.flush()
        rows = [
            {
                "collection_id": collection.id,
                "client_id": f"bench-{i}",
                "version_index": i,
                "state": "COMMITTED",
                "digest": f"{i:032x}",
                "created_at": T0,
                "expires_at": T0 + timedelta(hours=1) if i < versions * 9 // 10 else None,
                "ttl_is_inherited": False,
                "ttl_duration_seconds": 3600,
            }
            for i in range(versions)
        ]
        uow.session.execute(insert(Artifact), rows)
        ids = list(uow.session.scalars(select(Artifact.id).order_by(Artifact.id)))
        shared = f"artifacts/{ids[0]}/files/shared.bin"
        files = []
        for artifact_id in ids:
            own = f"artifacts/{artifact_id}/files/own.bin"
            for name, key in (("own.bin", own), ("shared.bin", shared)):
                files.append(
                    {
                        "artifact_id": artifact_id,
                        "name": name,
                        "md5_b64": key,
                        "storage_key": key,
                        "size": 1024,
                        "uploaded": True,
                    }
                )
            for key in (own, f"artifacts/{artifact_id}/manifest/wandb_manifest.json"):
                path = objects / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"x" * 1024)
        (objects / shared).write_bytes(b"s" * 1024)
        uow.session.execute(insert(ArtifactFile), files)


def main() -> None:
    """Seed, sweep twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.backend) as url:
        settings = ServerSettings(
            data_dir=Path(tmp),
            database_url=url,
            artifact_sweep_batch=args.batch,
            artifact_gc_grace_s=3600,
        )
        state = open_state(settings)
        seed(state, args.versions)
        at = T0 + timedelta(hours=2)
        table = Table(title=f"artifact sweep, {args.versions} versions, {args.backend}")
        for column in ("pass", "seconds", "done", "per second"):
            table.add_column(column)
        done = 0
        started = time.perf_counter()
        while expired := sweep_once(state, at).expired:
            done += expired
        took = time.perf_counter() - started
        table.add_row("expire", f"{took:.2f}", f"{done} versions", f"{done / took:,.0f}")
        at += timedelta(seconds=settings.artifact_gc_grace_s)
        removed = freed = 0
        started = time.perf_counter()
        while True:
            result = sweep_once(state, at)
            removed, freed = removed + result.blobs_removed, freed + result.bytes_freed
            if result.blobs_removed == 0:
                break
        took = time.perf_counter() - started
        table.add_row(
            "collect",
            f"{took:.2f}",
            f"{removed} blobs, {freed >> 20} MiB",
            f"{removed / took:,.0f}",
        )
        Console().print(table)
        state.engine.dispose()


if __name__ == "__main__":
    main()
