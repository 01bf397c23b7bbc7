"""Artifact lineage: which run logged a version, which runs used it, what a run logged and
used (`artifact.logged_by()`, `artifact.used_by()`, `run.logged_artifacts()`,
`run.used_artifacts()`), and the bounded graph runs -> artifacts -> runs a lineage page draws.

Runs and versions of entities the caller may not read are left out: a run can use another
team's data, and that team's names must not leak through the lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select

from runyard.server.access import Action, allows
from runyard.server.artifacts.listing import COMMITTED, Page, paged
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactUse, Project, Run
from runyard.server.unit_of_work import UnitOfWork

# A lineage graph stops growing at this many nodes, however many hops were asked for.
MAX_GRAPH_NODES = 200
MAX_HOPS = 4


def _readable_entity(principal: Principal, project: Project) -> bool:
    return allows(principal, project.entity.name, Action.READ)


def _visible(page: Page[Artifact], principal: Principal) -> Page[Artifact]:
    keep = [
        (row, cursor)
        for row, cursor in zip(page.rows, page.cursors, strict=True)
        if _readable_entity(principal, row.collection.project)
    ]
    hidden = len(page.rows) - len(keep)
    return Page([r for r, _ in keep], [c for _, c in keep], page.has_next, page.total - hidden)


def logged_by_run(
    uow: UnitOfWork, principal: Principal, run: Run, after: str | None, first: int | None
) -> Page[Artifact]:
    """The committed versions the run logged (created), in the order it logged them."""
    query = select(Artifact).where(
        Artifact.created_by_run_id == run.id, Artifact.state == COMMITTED
    )
    return _visible(paged(uow, query, [Artifact.id], after, first), principal)


def used_by_run(
    uow: UnitOfWork, principal: Principal, run: Run, after: str | None, first: int | None
) -> Page[Artifact]:
    """The committed versions the run declared as inputs, in the order it used them."""
    query = (
        select(Artifact)
        .join(ArtifactUse, ArtifactUse.artifact_id == Artifact.id)
        .where(ArtifactUse.run_id == run.id, Artifact.state == COMMITTED)
    )
    ordering = [ArtifactUse.created_at, Artifact.id]
    return _visible(paged(uow, query, ordering, after, first), principal)


def creator_of(uow: UnitOfWork, principal: Principal, artifact: Artifact) -> Run | None:
    """The run that logged the version, if it still exists and the caller may read it."""
    if artifact.created_by_run_id is None:
        return None
    run = uow.session.get(Run, artifact.created_by_run_id)
    if run is None or not _readable_entity(principal, run.project):
        return None
    return run


def users_of(
    uow: UnitOfWork,
    principal: Principal,
    artifact: Artifact,
    after: str | None = None,
    first: int | None = None,
) -> Page[Run]:
    """The runs that used the version as an input, in the order they used it."""
    query = (
        select(Run)
        .join(ArtifactUse, ArtifactUse.run_id == Run.id)
        .where(ArtifactUse.artifact_id == artifact.id)
    )
    page = paged(uow, query, [ArtifactUse.created_at, Run.id], after, first)
    keep = [
        (run, cursor)
        for run, cursor in zip(page.rows, page.cursors, strict=True)
        if _readable_entity(principal, run.project)
    ]
    hidden = len(page.rows) - len(keep)
    return Page([r for r, _ in keep], [c for _, c in keep], page.has_next, page.total - hidden)


# --- the lineage graph -----------------------------------------------------------------------

NodeKind = Literal["run", "artifact"]


@dataclass(frozen=True, order=True)
class NodeKey:
    """A node of the graph: a run or an artifact version, by database id."""

    kind: NodeKind
    id: int


@dataclass(frozen=True)
class Edge:
    """`run -logged-> artifact` or `artifact -used-> run` (edges follow the data's flow)."""

    source: NodeKey
    target: NodeKey
    kind: Literal["logged", "used"]


@dataclass
class LineageGraph:
    """Nodes reached from a start node within `hops`, and the edges between them."""

    start: NodeKey
    nodes: list[NodeKey] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False


def walk(
    start: NodeKey,
    neighbours: Callable[[NodeKey], list[Edge]],
    hops: int,
    max_nodes: int = MAX_GRAPH_NODES,
) -> LineageGraph:
    """Breadth-first walk from `start` over `neighbours` (both directions), at most `hops`
    edges away and `max_nodes` nodes in all; pure apart from what `neighbours` reads."""
    graph = LineageGraph(start, [start])
    seen = {start}
    edges: set[Edge] = set()
    frontier = [start]
    for _ in range(max(0, hops)):
        following: list[NodeKey] = []
        for node in frontier:
            for edge in neighbours(node):
                other = edge.target if edge.source == node else edge.source
                if other not in seen:
                    if len(seen) >= max_nodes:
                        graph.truncated = True
                        continue
                    seen.add(other)
                    graph.nodes.append(other)
                    following.append(other)
                edges.add(edge)
        frontier = following
        if not frontier:
            break
    graph.edges = sorted(
        (e for e in edges if e.source in seen and e.target in seen),
        key=lambda e: (e.source, e.target, e.kind),
    )
    return graph


def _artifact_edges(uow: UnitOfWork, principal: Principal, node: NodeKey) -> list[Edge]:
    artifact = uow.session.get(Artifact, node.id)
    if artifact is None or not _readable_entity(principal, artifact.collection.project):
        return []
    found: list[Edge] = []
    creator = creator_of(uow, principal, artifact)
    if creator is not None:
        found.append(Edge(NodeKey("run", creator.id), node, "logged"))
    users = users_of(uow, principal, artifact, first=MAX_GRAPH_NODES).rows
    return found + [Edge(node, NodeKey("run", run.id), "used") for run in users]


def _run_edges(uow: UnitOfWork, principal: Principal, node: NodeKey) -> list[Edge]:
    run = uow.session.get(Run, node.id)
    if run is None or not _readable_entity(principal, run.project):
        return []
    logged = logged_by_run(uow, principal, run, None, MAX_GRAPH_NODES).rows
    used = used_by_run(uow, principal, run, None, MAX_GRAPH_NODES).rows
    return [Edge(node, NodeKey("artifact", a.id), "logged") for a in logged] + [
        Edge(NodeKey("artifact", a.id), node, "used") for a in used
    ]


def lineage_graph(
    uow: UnitOfWork, principal: Principal, start: NodeKey, hops: int = 2
) -> LineageGraph:
    """The lineage around a run or an artifact version: runs -> artifacts -> runs, up to
    `hops` edges away (at most MAX_HOPS) and MAX_GRAPH_NODES nodes; what the caller may not
    read is left out (an unreadable start gives a graph of the start alone). Look the nodes'
    rows up with `runs_and_artifacts`."""

    def neighbours(node: NodeKey) -> list[Edge]:
        if node.kind == "artifact":
            return _artifact_edges(uow, principal, node)
        return _run_edges(uow, principal, node)

    return walk(start, neighbours, min(hops, MAX_HOPS))


def runs_and_artifacts(
    uow: UnitOfWork, graph: LineageGraph
) -> tuple[dict[int, Run], dict[int, Artifact]]:
    """The rows behind a graph's nodes, by id, for drawing names and links."""
    run_ids = [n.id for n in graph.nodes if n.kind == "run"]
    artifact_ids = [n.id for n in graph.nodes if n.kind == "artifact"]
    runs = {r.id: r for r in uow.session.scalars(select(Run).where(Run.id.in_(run_ids)))}
    found = uow.session.scalars(select(Artifact).where(Artifact.id.in_(artifact_ids)))
    return runs, {a.id: a for a in found}
