"""What the web UI's artifact pages show, as plain models: a project's types and collections,
a collection's versions, and one version's overview, files and lineage (runs → artifacts →
runs).

Reads only: the listings and lineage are `artifacts.listing` and `artifacts.lineage`; these
functions put their answers into the shapes the pages render (no ORM rows leave here).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from runyard.server.artifacts import lineage as lineage_reads
from runyard.server.artifacts import listing
from runyard.server.artifacts.lineage_view import LineageNode, artifact_lineage
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactCollection, Project, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import artifact_files, artifact_service, artifacts
from runyard.server.tracking.ids import encode_id
from runyard.server.unit_of_work import UnitOfWork

# A page shows at most this many of each thing; it says how many more there are.
MAX_COLLECTIONS = 200
VERSIONS_PAGE = 100
FILES_PAGE = 500
MAX_LINEAGE_NODES = 25
RUN_ARTIFACTS = 100


class RunRef(BaseModel):
    """A run as a page links to it."""

    entity: str
    project: str
    name: str
    display_name: str
    state: str
    job_type: str | None


class VersionRef(BaseModel):
    """An artifact version as a page links to it (`name:vN`)."""

    entity: str
    project: str
    type: str
    collection: str
    version: str
    aliases: list[str]


class CollectionSummary(BaseModel):
    """A collection in a project's listing."""

    name: str
    type: str
    version_count: int
    latest: str | None
    created_at: datetime


class TypeGroup(BaseModel):
    """An artifact type and its collections, by name."""

    name: str
    collections: list[CollectionSummary]
    more: int


class VersionRow(BaseModel):
    """One version in a collection's listing."""

    version: str
    aliases: list[str]
    tags: list[str]
    size: int
    file_count: int
    digest: str
    created_at: datetime
    created_by: RunRef | None


class CollectionView(BaseModel):
    """A collection with one page of its versions, newest first."""

    entity: str
    project: str
    type: str
    name: str
    description: str | None
    tags: list[str]
    created_at: datetime
    versions: list[VersionRow]
    total: int
    next_after: str | None


class FileRow(BaseModel):
    """A file of a version: stored (with a signed download URL) or a reference (its URI)."""

    name: str
    size: int | None
    digest: str
    url: str | None
    ref: str | None


class FilesPage(BaseModel):
    """One page of a version's files, by name."""

    rows: list[FileRow]
    total: int
    page: int
    pages: int


class LineageGraph(BaseModel):
    """Layers of nodes, left to right, and the edges between them (producer → product,
    input → consumer); `more` counts what each layer left out."""

    layers: list[list[LineageNode]]
    edges: list[tuple[str, str]]
    more: list[int]
    truncated: bool = False


class VersionView(BaseModel):
    """One version's overview."""

    id: str
    ref: VersionRef
    digest: str
    description: str | None
    metadata: dict[str, Any]
    tags: list[str]
    size: int
    file_count: int
    created_at: datetime
    expires_at: datetime | None
    created_by: RunRef | None
    used_by: list[RunRef]
    used_by_more: int


class RunArtifacts(BaseModel):
    """The versions a run logged and used (the run page's Artifacts section)."""

    logged: list[VersionRef]
    used: list[VersionRef]
    logged_more: int
    used_more: int


# --- small shapes ----------------------------------------------------------------------------


def _run_ref(run: Run) -> RunRef:
    return RunRef(
        entity=run.project.entity.name,
        project=run.project.name,
        name=run.name,
        display_name=run.display_name or run.name,
        state=run.state,
        job_type=run.job_type,
    )


def _user_aliases(uow: UnitOfWork, artifact: Artifact) -> list[str]:
    # Only the version's own collection's: a registry link keeps its aliases per collection.
    rows = artifacts.aliases_of(uow.session, artifact)
    return [a.alias for a in rows if a.collection_id == artifact.collection_id]


def _version_ref(uow: UnitOfWork, artifact: Artifact) -> VersionRef:
    collection = artifact.collection
    return VersionRef(
        entity=collection.project.entity.name,
        project=collection.project.name,
        type=collection.type_name,
        collection=collection.name,
        version=f"v{artifact.version_index}",
        aliases=_user_aliases(uow, artifact),
    )


def _created_by(uow: UnitOfWork, principal: Principal, artifact: Artifact) -> RunRef | None:
    run = lineage_reads.creator_of(uow, principal, artifact)
    return None if run is None else _run_ref(run)


def version_tags(artifact: Artifact) -> list[str]:
    """A version's tags, in the order they were added."""
    return list(artifact.tags or [])


# --- lookups ---------------------------------------------------------------------------------


def _project(uow: UnitOfWork, principal: Principal, entity: str, project: str) -> Project:
    return artifact_service.project_of(uow, principal, entity, project)


def _collection(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, type_name: str, name: str
) -> ArtifactCollection:
    owner = _project(uow, principal, entity, project)
    collection = artifacts.find_collection(uow.session, owner, name)
    if collection is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"artifact {entity}/{project}/{name} does not exist: the project's artifacts are "
            f"listed at /{entity}/{project}/artifacts",
        )
    if collection.type_name != type_name:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"artifact {name!r} has type {collection.type_name!r}, not {type_name!r}: it is at "
            f"/{entity}/{project}/artifacts/{collection.type_name}/{name}",
        )
    return collection


def find_version(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    type_name: str,
    name: str,
    selector: str,
) -> Artifact:
    """The committed version `selector` (`v3`, `latest`, a user alias) of a collection the
    caller may read; a clear 404 otherwise."""
    collection = _collection(uow, principal, entity, project, type_name, name)
    artifact = artifacts.find_version(uow.session, collection, selector)
    if artifact is None or artifact.state != listing.COMMITTED:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"artifact {name}:{selector} does not exist: its versions are listed at "
            f"/{entity}/{project}/artifacts/{type_name}/{name}",
        )
    return artifact


def version_node(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    type_name: str,
    name: str,
    selector: str,
) -> tuple[str, str]:
    """The node id and `vN` of the version a page's URL names (what its forms edit)."""
    artifact = find_version(uow, principal, entity, project, type_name, name, selector)
    return encode_id("Artifact", artifact.id), f"v{artifact.version_index}"


def collection_node(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, type_name: str, name: str
) -> str:
    """The node id of the collection a page's URL names (what its forms edit)."""
    collection = _collection(uow, principal, entity, project, type_name, name)
    return encode_id("ArtifactCollection", collection.id)


# --- pages -----------------------------------------------------------------------------------


def project_artifacts(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, type_name: str | None = None
) -> list[TypeGroup]:
    """The project's artifact types (or just `type_name`), each with its collections by name,
    their version counts and latest versions."""
    owner = _project(uow, principal, entity, project)
    groups: list[TypeGroup] = []
    for kind in listing.types_in_project(uow, owner, first=listing.MAX_PAGE).rows:
        if type_name is not None and kind.name != type_name:
            continue
        page = listing.collections(uow, owner, kind.name, first=MAX_COLLECTIONS, order="name")
        summaries = []
        for collection in page.rows:
            count = listing.versions(uow, collection, first=1).total
            newest = artifacts.latest_version(uow.session, collection)
            summaries.append(
                CollectionSummary(
                    name=collection.name,
                    type=collection.type_name,
                    version_count=count,
                    latest=None if newest is None else f"v{newest.version_index}",
                    created_at=collection.created_at,
                )
            )
        more = page.total - len(summaries)
        groups.append(TypeGroup(name=kind.name, collections=summaries, more=more))
    if type_name is not None and not groups:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"project {entity}/{project} has no artifacts of type {type_name!r}: its artifacts "
            f"are listed at /{entity}/{project}/artifacts",
        )
    return groups


def collection_view(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    type_name: str,
    name: str,
    after: str | None = None,
) -> CollectionView:
    """A collection and a page of its committed versions (newest first) with their aliases,
    tags, sizes and the runs that logged them."""
    collection = _collection(uow, principal, entity, project, type_name, name)
    page = listing.versions(uow, collection, after=after or None, first=VERSIONS_PAGE)
    rows = [
        VersionRow(
            version=f"v{a.version_index}",
            aliases=_user_aliases(uow, a),
            tags=version_tags(a),
            size=a.size,
            file_count=a.file_count,
            digest=a.digest,
            created_at=a.committed_at or a.created_at,
            created_by=_created_by(uow, principal, a),
        )
        for a in page.rows
    ]
    return CollectionView(
        entity=entity,
        project=project,
        type=type_name,
        name=name,
        description=collection.description,
        tags=list(collection.tags or []),
        created_at=collection.created_at,
        versions=rows,
        total=page.total,
        next_after=page.cursors[-1] if page.has_next else None,
    )


def run_artifacts(uow: UnitOfWork, principal: Principal, run: Run) -> RunArtifacts:
    """The first RUN_ARTIFACTS versions the run logged and used (readable ones, in order)."""
    logged = lineage_reads.logged_by_run(uow, principal, run, None, RUN_ARTIFACTS)
    used = lineage_reads.used_by_run(uow, principal, run, None, RUN_ARTIFACTS)
    return RunArtifacts(
        logged=[_version_ref(uow, a) for a in logged.rows],
        used=[_version_ref(uow, a) for a in used.rows],
        logged_more=logged.total - len(logged.rows),
        used_more=used.total - len(used.rows),
    )


def _consumers(uow: UnitOfWork, principal: Principal, artifact: Artifact) -> tuple[list[Run], int]:
    """The runs that used the version (readable ones, first used first) and how many more."""
    page = lineage_reads.users_of(uow, principal, artifact, first=MAX_LINEAGE_NODES)
    return page.rows, page.total - len(page.rows)


def version_view(uow: UnitOfWork, principal: Principal, artifact: Artifact) -> VersionView:
    """A version's overview: names, digest, description, metadata, aliases, tags, and the run
    that logged it and the runs that used it."""
    consumers, more = _consumers(uow, principal, artifact)
    return VersionView(
        id=encode_id("Artifact", artifact.id),
        ref=_version_ref(uow, artifact),
        digest=artifact.digest,
        description=artifact.description,
        metadata=dict(artifact.metadata_json or {}),
        tags=version_tags(artifact),
        size=artifact.size,
        file_count=artifact.file_count,
        created_at=artifact.committed_at or artifact.created_at,
        expires_at=artifact.expires_at,
        created_by=_created_by(uow, principal, artifact),
        used_by=[_run_ref(r) for r in consumers],
        used_by_more=more,
    )


def files_page(
    uow: UnitOfWork, artifact: Artifact, page: int, url_for: Callable[[str], str]
) -> FilesPage:
    """Page `page` (from 1) of the version's files by name; stored files get a download URL
    from `url_for` (which signs a storage key), references show their URI."""
    entries = artifact_service.listed_files(uow, artifact)
    pages = max((len(entries) + FILES_PAGE - 1) // FILES_PAGE, 1)
    page = min(max(page, 1), pages)
    rows = []
    for entry in entries[(page - 1) * FILES_PAGE : page * FILES_PAGE]:
        if isinstance(entry, artifact_files.ReferenceEntry):
            rows.append(
                FileRow(
                    name=entry.name, size=entry.size, digest=entry.digest, url=None, ref=entry.ref
                )
            )
        else:
            url = url_for(entry.storage_key) if entry.uploaded else None
            rows.append(
                FileRow(name=entry.name, size=entry.size, digest=entry.md5_b64, url=url, ref=None)
            )
    return FilesPage(rows=rows, total=len(entries), page=page, pages=pages)


def layers_of(start: str, edges: list[tuple[str, str]]) -> dict[str, int]:
    """A column per node: each edge goes one column to the right (producer → product,
    input → consumer), counted from `start` in column 0 by a breadth-first walk; a node keeps
    the first column it is reached at (a cycle can reach it twice). Pure."""
    column = {start: 0}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for source, target in edges:
                if source == node and target not in column:
                    column[target] = column[node] + 1
                    following.append(target)
                elif target == node and source not in column:
                    column[source] = column[node] - 1
                    following.append(source)
        frontier = following
    return column


def lineage(uow: UnitOfWork, principal: Principal, artifact: Artifact) -> LineageGraph:
    """Two steps either side of the version (the runs that logged and used it, and what
    those runs used and logged; `artifacts.lineage_view`), as columns left to right, at most
    MAX_LINEAGE_NODES a column. Nodes the caller may not read are left out."""
    collection = artifact.collection
    view = artifact_lineage(
        uow,
        principal,
        collection.project.entity.name,
        collection.project.name,
        f"{collection.name}:v{artifact.version_index}",
        hops=2,
    )
    edges = [(e.source, e.target) for e in view.edges]
    start = next(n.key for n in view.nodes if n.start)
    column = layers_of(start, edges)
    first = min(column.values())
    layers: list[list[LineageNode]] = [[] for _ in range(max(column.values()) - first + 1)]
    more = [0] * len(layers)
    for node in view.nodes:
        at = column.get(node.key, 0) - first
        if len(layers[at]) < MAX_LINEAGE_NODES:
            layers[at].append(node)
        else:
            more[at] += 1
    placed = {n.key for layer in layers for n in layer}
    kept = [(a, b) for a, b in edges if a in placed and b in placed]
    return LineageGraph(layers=layers, edges=kept, more=more, truncated=view.truncated)
