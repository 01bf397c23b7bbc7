"""Artifact listings and lineage reads at scale, as the client asks for them: p50/p99 per page.

Usage: python hack/bench/bench_artifact_listing.py [--backend sqlite|postgres]
       [--collections 1000] [--versions 10000] [--uses 2000] [--repeat 20]

Seeds one project straight into the database: `--collections` collections of one type (one
version each) and one collection of `--versions` versions that `--uses` runs used, then
times the GraphQL reads `api.artifact_collections`, `api.artifacts`, `artifact.used_by()` and
`run.used_artifacts()` make: the first page and the last page (pages are offset pages).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import percentile, server
from rich.console import Console
from rich.table import Table
from seed import seed_project
from sqlalchemy import insert, select

from runyard.server.clock import utcnow
from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import Artifact, ArtifactCollection, ArtifactUse, Run
from runyard.server.tracking.ids import encode_id

PROJECT = "bench-artifacts"
PAGE = 50
COLLECTIONS = """query($p: String!, $n: Int, $after: String) {
  project(entityName: "admin", name: $p) {
    artifactType(name: "dataset") { artifactCollections(first: $n, after: $after) {
      totalCount edges { node { id name createdAt updatedAt } } } } } }"""
VERSIONS = """query($p: String!, $n: Int, $after: String) {
  project(entityName: "admin", name: $p) {
    artifactType(name: "model") { artifactCollection(name: "big") {
      artifacts(first: $n, after: $after, filters: "{\\"state\\": \\"COMMITTED\\"}") {
        totalCount edges { version node { id digest size aliases { alias } } } } } } } }"""
USED_BY = """query($id: ID!, $n: Int, $after: String) { artifact(id: $id) {
  usedBy(first: $n, after: $after) { edges { node { name } } } } }"""
RUN_INPUTS = """query($p: String!, $n: Int, $run: String!) {
  project(entityName: "admin", name: $p) {
    run(name: $run) { inputArtifacts(first: $n) { totalCount edges { node { id } } } } } }"""


def seed(database_url: str, collections: int, versions: int, uses: int) -> tuple[int, str]:
    """Insert the collections, versions, runs and uses; return the used version's id and the
    name of a run that used it."""
    project_id = seed_project(database_url, PROJECT)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    now = utcnow()
    with sessions.begin() as session:
        session.execute(
            insert(ArtifactCollection),
            [
                {"project_id": project_id, "name": f"ds-{i}", "type_name": "dataset"}
                for i in range(collections)
            ],
        )
        session.execute(
            insert(ArtifactCollection),
            [{"project_id": project_id, "name": "big", "type_name": "model"}],
        )
        ids = dict(
            session.execute(
                select(ArtifactCollection.name, ArtifactCollection.id).where(
                    ArtifactCollection.project_id == project_id
                )
            ).all()
        )
        rows = [
            {
                "collection_id": ids[f"ds-{i}"],
                "client_id": f"bench-ds-{i}",
                "version_index": 0,
                "state": "COMMITTED",
                "digest": f"{i:032x}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(collections)
        ]
        rows += [
            {
                "collection_id": ids["big"],
                "client_id": f"bench-big-{v}",
                "version_index": v,
                "state": "COMMITTED",
                "digest": f"{v:032x}",
                "created_at": now + timedelta(seconds=v),
                "updated_at": now + timedelta(seconds=v),
            }
            for v in range(versions)
        ]
        session.execute(insert(Artifact), rows)
        used = session.scalar(
            select(Artifact.id).where(
                Artifact.collection_id == ids["big"], Artifact.version_index == 0
            )
        )
        assert used is not None
        session.execute(
            insert(Run), [{"project_id": project_id, "name": f"user-{u}"} for u in range(uses)]
        )
        run_ids = session.scalars(select(Run.id).where(Run.project_id == project_id)).all()
        session.execute(
            insert(ArtifactUse),
            [{"run_id": r, "artifact_id": used, "created_at": now} for r in run_ids],
        )
    engine.dispose()
    return used, "user-0"


def _time(api: httpx.Client, query: str, variables: dict[str, object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        payload = {"query": query, "variables": {"p": PROJECT, "n": PAGE, **variables}}
        answer = api.post("/graphql", json=payload)
        times.append((time.perf_counter() - start) * 1000)
        body = answer.json()
        assert answer.status_code == 200 and "errors" not in body, answer.text[:500]
    return times


def _last(total: int) -> str:
    """The cursor of the last full page of `total` rows."""
    return encode_id("ArtifactListCursor", max(0, total - PAGE))


def main() -> None:
    """Seed, time each read, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--collections", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--uses", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    table = Table(title=f"artifact listings ({args.backend}, pages of {PAGE})")
    for column in ("read", "rows in all", "p50 ms", "p99 ms"):
        table.add_column(column)
    with server(args.backend) as srv, srv.api() as api:
        used, run = seed(srv.database_url, args.collections, args.versions, args.uses)
        node = encode_id("Artifact", used)
        cases = [
            ("collections, first page", COLLECTIONS, {}, args.collections),
            ("collections, last page", COLLECTIONS, {"after": _last(args.collections)}, None),
            ("versions, first page", VERSIONS, {}, args.versions),
            ("versions, last page", VERSIONS, {"after": _last(args.versions)}, None),
            ("usedBy, first page", USED_BY, {"id": node}, args.uses),
            ("usedBy, last page", USED_BY, {"id": node, "after": _last(args.uses)}, None),
            ("run inputArtifacts", RUN_INPUTS, {"run": run}, 1),
        ]
        for name, query, variables, total in cases:
            times = _time(api, query, variables, args.repeat)
            table.add_row(
                name,
                "" if total is None else f"{total:,}",
                f"{percentile(times, 50):.1f}",
                f"{percentile(times, 99):.1f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
