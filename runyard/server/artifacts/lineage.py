"""Artifact lineage: which run logged a version, which runs used it, what a run logged and
used (`artifact.logged_by()`, `artifact.used_by()`, `run.logged_artifacts()`,
`run.used_artifacts()`), and the bounded graph runs -> artifacts -> runs a lineage page draws.

Runs and versions of entities the caller may not read are left out: a run can use another
team's data, and that team's names must not leak through the lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, select

from runyard.server.access import Action, allows
from runyard.server.artifacts.listing import COMMITTED, Page, paged
from runyard.server.auth import Principal
from runyard.server.db.models import (
    Artifact,
    ArtifactCollection,
    ArtifactUse,
    Entity,
    Project,
    Run,
)
from runyard.server.unit_of_work import UnitOfWork

# A lineage graph stops growing at this many nodes, however many hops were asked for.
MAX_GRAPH_NODES = 200
MAX_HOPS = 4


def _readable_entity(principal: Principal, project: Project) -> bool:
    return allows(principal, project.entity.name, Action.READ)


def _readable_entity_ids(uow: UnitOfWork, principal: Principal, projects: Select[Any]) -> list[int]:
    """The entities of the rows `projects` (a query of Project.id) that the caller may read.

    The rows of one lineage read span few entities: each is judged by the access rule once,
    and the listing then keeps its rows in SQL, so totals and pages stay exact.
    """
    rows = uow.session.execute(
        select(Entity.id, Entity.name)
        .join(Project, Project.entity_id == Entity.id)
        .where(Project.id.in_(projects))
        .distinct()
    ).all()
    return [entity_id for entity_id, name in rows if allows(principal, name, Action.READ)]


def _readable_artifacts(
    uow: UnitOfWork, principal: Principal, conditions: list[ColumnElement[bool]], use: bool
) -> Select[Any]:
    """Committed versions matching `conditions` (joined to their uses when `use`) in
    entities the caller may read."""

    def base(columns: Any) -> Select[Any]:
        query = (
            select(columns)
            .select_from(Artifact)
            .join(ArtifactCollection, ArtifactCollection.id == Artifact.collection_id)
        )
        if use:
            query = query.join(ArtifactUse, ArtifactUse.artifact_id == Artifact.id)
        return query.where(Artifact.state == COMMITTED, *conditions)

    readable = _readable_entity_ids(uow, principal, base(ArtifactCollection.project_id))
    allowed = select(Project.id).where(Project.entity_id.in_(readable))
    return base(Artifact).where(ArtifactCollection.project_id.in_(allowed))


def logged_by_run(
    uow: UnitOfWork, principal: Principal, run: Run, after: str | None, first: int | None
) -> Page[Artifact]:
    """The committed versions the run logged (created), in the order it logged them."""
    query = _readable_artifacts(uow, principal, [Artifact.created_by_run_id == run.id], False)
    return paged(uow, query, [Artifact.id], after, first)


def used_by_run(
    uow: UnitOfWork, principal: Principal, run: Run, after: str | None, first: int | None
) -> Page[Artifact]:
    """The committed versions the run declared as inputs, in the order it used them; versions
    of entities the caller may not read are left out (a run can use another team's data)."""
    query = _readable_artifacts(uow, principal, [ArtifactUse.run_id == run.id], True)
    return paged(uow, query, [ArtifactUse.created_at, Artifact.id], after, first)


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
    """The runs that used the version as an input, in the order they used it; runs of
    entities the caller may not read are left out."""

    def base(columns: Any) -> Select[Any]:
        return (
            select(columns)
            .select_from(Run)
            .join(ArtifactUse, ArtifactUse.run_id == Run.id)
            .where(ArtifactUse.artifact_id == artifact.id)
        )

    readable = _readable_entity_ids(uow, principal, base(Run.project_id))
    allowed = select(Project.id).where(Project.entity_id.in_(readable))
    query = base(Run).where(Run.project_id.in_(allowed))
    return paged(uow, query, [ArtifactUse.created_at, Run.id], after, first)


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
