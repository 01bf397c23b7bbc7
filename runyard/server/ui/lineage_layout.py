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
    truncated: bool = False
    node_w: int = NODE_W
    node_h: int = NODE_H


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def node_href(node: LineageNode) -> str:
    """The page a node links to: the run page, or the version's lineage tab."""
    if node.kind == "run":
        return f"/{quote(node.entity)}/{quote(node.project)}/runs/{quote(node.name)}"
    collection, _, version = node.name.partition(":")
    return (
        f"/{quote(node.entity)}/{quote(node.project)}/artifacts/{quote(node.type or '')}/"
        f"{quote(collection)}/{quote(version)}/lineage"
    )


def _texts(node: LineageNode) -> tuple[str, str, str]:
    """Label, full title and a detail line of a node."""
    where = f"{node.entity}/{node.project}"
    if node.kind == "run":
        return node.label, f"run {node.label} ({where}/{node.name})", "run"
    return node.label, f"artifact {where}/{node.name} ({node.type})", node.type or ""


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
                current=node.start,
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
    return Layout(
        width=width,
        height=height,
        nodes=nodes,
        arrows=arrows,
        notes=notes,
        truncated=graph.truncated,
    )


def _curve(a: PlacedNode, b: PlacedNode) -> str:
    """A curve from the right side of `a` to the left side of `b` (a loop round for a
    backward arrow, which a cycle between runs and versions can make)."""
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    bend = max((x2 - x1) // 2, COLUMN_GAP // 2)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
