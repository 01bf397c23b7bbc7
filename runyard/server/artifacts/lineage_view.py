"""The lineage around a run or an artifact version as a page draws it: named nodes (runs and
versions with their entity, project and type) and the edges runs -> artifacts -> runs.

Built on `lineage.lineage_graph`; the start is looked up by name with the access rule, so an
unreadable or missing start is a NOT_FOUND error, and what the caller may not read is left out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from runyard.server.artifacts.lineage import (
    MAX_HOPS,
    LineageGraph,
    NodeKey,
    lineage_graph,
    runs_and_artifacts,
)
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.access import accessible_project, accessible_run
from runyard.server.tracking.artifacts import find_collection, find_version, split_name
from runyard.server.unit_of_work import UnitOfWork


class LineageNode(BaseModel):
    """A run or an artifact version in the graph."""

    key: str  # "run:<id>" or "artifact:<id>": what edges refer to
    kind: Literal["run", "artifact"]
    entity: str
    project: str
    # A run's name (its id in URLs) or a version's `collection:vN`.
    name: str
    # A run's display name, or the version's `collection:vN`.
    label: str
    # The artifact type of a version; None for runs.
    type: str | None = None
    start: bool = False


class LineageEdge(BaseModel):
    """`run -logged-> artifact` or `artifact -used-> run`."""

    source: str
    target: str
    kind: Literal["logged", "used"]


class LineageView(BaseModel):
    """The nodes and edges to draw, and whether the node bound cut the graph short."""

    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool


def _key(node: NodeKey) -> str:
    return f"{node.kind}:{node.id}"


def _check_hops(hops: int) -> int:
    if not 0 <= hops <= MAX_HOPS:
        raise ServiceError(
            ErrorCode.INVALID, f"hops: {hops} is out of range: ask for 0 to {MAX_HOPS}"
        )
    return hops


def _run_node(run: Run, start: bool) -> LineageNode:
    return LineageNode(
        key=f"run:{run.id}",
        kind="run",
        entity=run.project.entity.name,
        project=run.project.name,
        name=run.name,
        label=run.display_name or run.name,
        start=start,
    )


def _artifact_node(artifact: Artifact, start: bool) -> LineageNode:
    collection = artifact.collection
    name = f"{collection.name}:v{artifact.version_index}"
    return LineageNode(
        key=f"artifact:{artifact.id}",
        kind="artifact",
        entity=collection.project.entity.name,
        project=collection.project.name,
        name=name,
        label=name,
        type=collection.type_name,
        start=start,
    )


def _view(uow: UnitOfWork, graph: LineageGraph) -> LineageView:
    runs, artifacts = runs_and_artifacts(uow, graph)
    nodes: list[LineageNode] = []
    for node in graph.nodes:
        start = node == graph.start
        if node.kind == "run" and node.id in runs:
            nodes.append(_run_node(runs[node.id], start))
        elif node.kind == "artifact" and node.id in artifacts:
            nodes.append(_artifact_node(artifacts[node.id], start))
    present = {n.key for n in nodes}
    edges = [
        LineageEdge(source=_key(e.source), target=_key(e.target), kind=e.kind)
        for e in graph.edges
        if _key(e.source) in present and _key(e.target) in present
    ]
    return LineageView(nodes=nodes, edges=edges, truncated=graph.truncated)


def run_lineage(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, run: str, hops: int = 2
) -> LineageView:
    """The lineage around run `entity/project/run`, `hops` edges deep (0..MAX_HOPS)."""
    found = accessible_run(uow.session, principal, entity, project, run)
    graph = lineage_graph(uow, principal, NodeKey("run", found.id), _check_hops(hops))
    return _view(uow, graph)


def artifact_lineage(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str, hops: int = 2
) -> LineageView:
    """The lineage around version `name` (`collection:vN` or `collection:alias`) of
    `entity/project`, `hops` edges deep (0..MAX_HOPS)."""
    owner = accessible_project(uow.session, principal, entity, project)
    collection_name, selector = split_name(name)
    collection = find_collection(uow.session, owner, collection_name)
    version = find_version(uow.session, collection, selector) if collection else None
    if version is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"artifact {entity}/{project}/{name} does not exist: name a logged version such as "
            f"{collection_name}:v0 or {collection_name}:latest",
        )
    graph = lineage_graph(uow, principal, NodeKey("artifact", version.id), _check_hops(hops))
    return _view(uow, graph)
