"""A report spec as the blocks its page draws (pure): sanitised markdown, headings, code,
LaTeX source for KaTeX, images, and panel grids as their panels and run sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")
# Tags a report's markdown may keep; everything else (scripts, styles, handlers) is dropped.
_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}  # fmt: skip


def markdown_html(text: str) -> Markup:
    """Markdown rendered to HTML and sanitised: safe to put in a page as is."""
    # Markup marks the sanitised HTML as safe here, at the one place that sanitises, so no
    # template needs `| safe` (which would also pass unsanitised data through).
    return Markup(
        nh3.clean(_MARKDOWN.render(text), tags=_ALLOWED_TAGS, link_rel="noopener noreferrer")
    )


def inline_text(children: list[Any] | None) -> str:
    """The plain text of a block's inline children (text runs, links, inline LaTeX)."""
    out: list[str] = []
    for child in children or []:
        if not isinstance(child, dict):
            continue
        if "text" in child:
            out.append(str(child["text"]))
        elif child.get("type") == "latex":
            out.append(str(child.get("content", "")))
        else:
            out.append(inline_text(child.get("children")))
    return "".join(out)


@dataclass
class PanelOut:
    """One panel of a grid: a line plot, a scalar chart, or a kind the page lists by name."""

    kind: str  # "line", "scalar" or "other"
    title: str
    metrics: list[str] = field(default_factory=list)
    view_type: str = ""
    agg: str = "mean"


@dataclass
class RunSetOut:
    """A run set: its project and filter, as saved."""

    name: str
    entity: str | None
    project: str | None
    filters: dict[str, Any] | None


@dataclass
class BlockOut:
    """One block of a report page."""

    kind: str
    text: str = ""
    html: Markup = field(default_factory=Markup)
    level: int = 1
    language: str = ""
    url: str = ""
    panels: list[PanelOut] = field(default_factory=list)
    runsets: list[RunSetOut] = field(default_factory=list)
    items: list[str] = field(default_factory=list)


def _panel(panel: dict[str, Any]) -> PanelOut:
    view_type = panel.get("viewType", "")
    config = panel.get("config") or {}
    if view_type == "Run History Line Plot":
        metrics = [str(m) for m in config.get("metrics") or []]
        return PanelOut("line", config.get("chartTitle") or ", ".join(metrics), metrics)
    if view_type == "Scalar Chart":
        metrics = [str(m) for m in config.get("metrics") or []]
        title = config.get("chartTitle") or ", ".join(metrics)
        return PanelOut("scalar", title, metrics, agg=config.get("groupAgg") or "mean")
    return PanelOut("other", config.get("chartTitle") or view_type, view_type=view_type)


def _runset(runset: dict[str, Any]) -> RunSetOut:
    project = runset.get("project") or {}
    filters = runset.get("filters")
    return RunSetOut(
        name=str(runset.get("name", "Run set")),
        entity=project.get("entityName"),
        project=project.get("name"),
        filters=filters if isinstance(filters, dict) else None,
    )


def _block(block: dict[str, Any]) -> BlockOut | None:
    kind = block.get("type")
    children = block.get("children")
    if kind in ("paragraph", "default"):
        text = inline_text(children)
        return BlockOut("paragraph", text=text) if text.strip() else None
    if kind == "heading":
        return BlockOut("heading", text=inline_text(children), level=int(block.get("level", 1)))
    if kind == "markdown-block":
        return BlockOut("markdown", html=markdown_html(str(block.get("content", ""))))
    if kind == "code-block":
        lines = [inline_text(line.get("children")) for line in children or []]
        return BlockOut("code", text="\n".join(lines), language=str(block.get("language") or ""))
    if kind == "latex":
        return BlockOut("latex", text=str(block.get("content", "")))
    if kind == "image":
        return BlockOut("image", url=str(block.get("url", "")), text=inline_text(children))
    if kind == "horizontal-rule":
        return BlockOut("rule")
    if kind == "block-quote":
        return BlockOut("quote", text=inline_text(children))
    if kind == "list":
        items = [inline_text(item.get("children")) for item in children or []]
        return BlockOut("list", items=items)
    if kind == "panel-grid":
        meta = block.get("metadata") or {}
        section = meta.get("panelBankSectionConfig") or {}
        return BlockOut(
            "grid",
            panels=[_panel(p) for p in section.get("panels") or []],
            runsets=[_runset(r) for r in meta.get("runSets") or []],
        )
    return BlockOut("other", text=str(kind))


def page_blocks(spec: dict[str, Any]) -> list[BlockOut]:
    """The blocks a report page draws, in order (empty paragraphs dropped)."""
    out: list[BlockOut] = []
    for block in spec.get("blocks") or []:
        drawn = _block(block)
        if drawn is not None:
            out.append(drawn)
        for child in block.get("collapsedChildren") or []:
            inner = _block(child)
            if inner is not None:
                out.append(inner)
    return out
