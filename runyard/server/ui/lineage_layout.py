"""Where the lineage page draws each node and arrow: a pure layered layout (columns left to
right, nodes stacked and centred in each column, arrows as curves), rendered as SVG by the
template. Empty layers take no column."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from runyard.server.artifacts.pages import LineageGraph, LineageNode

NODE_W = 210
NODE_H = 46
COLUMN_GAP = 90
ROW_GAP = 18
PAD = 12
LABEL_CHARS = 26


@dataclass(frozen=True)
class PlacedNode:
    """A node with its box, link and the text drawn in it."""

    key: str
    kind: str
    x: int
    y: int
    label: str
    title: str
    detail: str
    href: str
    current: bool


@dataclass(frozen=True)
class Arrow:
    """A curve from one node's box to another's (SVG path data)."""

    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Layout:
    """The drawing: its size, nodes, arrows and the "N more" notes under columns."""

    width: int
    height: int
    nodes: list[PlacedNode]
    arrows: list[Arrow]
    notes: list[tuple[int, int, str]]
    node_w: int = NODE_W
    node_h: int = NODE_H


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def node_href(node: LineageNode) -> str:
    """The page a node links to: the run page, or the version's lineage tab."""
    if node.run is not None:
        r = node.run
        return f"/{quote(r.entity)}/{quote(r.project)}/runs/{quote(r.name)}"
    assert node.artifact is not None
    a = node.artifact
    return (
        f"/{quote(a.entity)}/{quote(a.project)}/artifacts/{quote(a.type)}/"
        f"{quote(a.collection)}/{a.version}/lineage"
    )


def _texts(node: LineageNode) -> tuple[str, str, str]:
    """Label, full title and a detail line of a node."""
    if node.run is not None:
        r = node.run
        title = f"run {r.display_name} ({r.entity}/{r.project}/{r.name})"
        return r.display_name, title, f"run · {r.job_type or r.state}"
    assert node.artifact is not None
    a = node.artifact
    name = f"{a.collection}:{a.version}"
    title = f"artifact {a.entity}/{a.project}/{name} ({a.type})"
    aliases = f" · {', '.join(a.aliases)}" if a.aliases else ""
    return name, title, f"{a.type}{aliases}"


def layout(graph: LineageGraph) -> Layout:
    """Place the graph's non-empty layers as columns and route an arrow per edge."""
    columns = [(i, layer) for i, layer in enumerate(graph.layers) if layer or graph.more[i]]
    tallest = max((len(layer) + (1 if graph.more[i] else 0) for i, layer in columns), default=1)
    height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP
    width = PAD * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * COLUMN_GAP
    nodes: list[PlacedNode] = []
    notes: list[tuple[int, int, str]] = []
    where: dict[str, PlacedNode] = {}
    for column, (index, layer) in enumerate(columns):
        x = PAD + column * (NODE_W + COLUMN_GAP)
        rows = len(layer) + (1 if graph.more[index] else 0)
        top = PAD + (tallest - rows) * (NODE_H + ROW_GAP) // 2
        for row, node in enumerate(layer):
            label, title, detail = _texts(node)
            placed = PlacedNode(
                key=node.key,
                kind=node.kind,
                x=x,
                y=top + row * (NODE_H + ROW_GAP),
                label=_short(label),
                title=title,
                detail=_short(detail),
                href=node_href(node),
                current=node.current,
            )
            nodes.append(placed)
            where[node.key] = placed
        if graph.more[index]:
            y = top + len(layer) * (NODE_H + ROW_GAP) + NODE_H // 2
            notes.append((x, y, f"and {graph.more[index]} more"))
    arrows = []
    for source, target in graph.edges:
        a, b = where.get(source), where.get(target)
        if a is None or b is None:
            continue
        arrows.append(Arrow(source, target, _curve(a, b)))
    return Layout(width=width, height=height, nodes=nodes, arrows=arrows, notes=notes)


def _curve(a: PlacedNode, b: PlacedNode) -> str:
    """A curve from the right side of `a` to the left side of `b` (a loop round for a
    backward arrow, which a cycle between runs and versions can make)."""
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    bend = max((x2 - x1) // 2, COLUMN_GAP // 2)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
