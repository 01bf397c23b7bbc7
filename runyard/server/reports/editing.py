"""Writing reports from the web UI: a new report from a title and markdown, and edits that
change the title and description or add a markdown block (each a new revision)."""

from __future__ import annotations

import json
from typing import Any

from runyard.server.auth import Principal
from runyard.server.db.models import View
from runyard.server.reports import views
from runyard.server.unit_of_work import UnitOfWork

MAX_MARKDOWN = 256 * 1024


def _paragraph() -> dict[str, Any]:
    return {"type": "paragraph", "children": [{"text": ""}]}


def _markdown(text: str) -> dict[str, Any]:
    return {"type": "markdown-block", "content": text, "children": [{"text": ""}]}


def new_spec(markdown: str) -> dict[str, Any]:
    """A report spec as the client library writes one: empty paragraphs around the blocks."""
    blocks = [_markdown(markdown)] if markdown.strip() else []
    return {"version": 5, "width": "readable", "blocks": [_paragraph(), *blocks, _paragraph()]}


def with_markdown(spec: dict[str, Any], markdown: str) -> dict[str, Any]:
    """The spec with a markdown block added at the end (before the closing paragraph)."""
    blocks = list(spec.get("blocks") or [])
    tail = [blocks.pop()] if blocks and blocks[-1] == _paragraph() else [_paragraph()]
    return {**spec, "blocks": [*blocks, _markdown(markdown), *tail]}


def _check_markdown(markdown: str) -> None:
    if len(markdown) > MAX_MARKDOWN:
        views.refuse(f"markdown: at most {MAX_MARKDOWN} characters; split it", "markdown")


def create_report(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    title: str,
    description: str,
    markdown: str,
) -> View:
    """A new published report in a project the caller may write to."""
    _check_markdown(markdown)
    if not title.strip():
        views.refuse("title: required; give the report a title", "title")
    given = views.ViewInput(
        id=None,
        entity_name=entity,
        project_name=project,
        name=None,
        display_name=title.strip(),
        description=description.strip(),
        type="runs",
        spec=json.dumps(new_spec(markdown)),
    )
    view, _ = views.upsert_view(uow, principal, given)
    return view


def edit_report(
    uow: UnitOfWork,
    principal: Principal,
    node_id: str,
    title: str,
    description: str,
    markdown: str,
) -> View:
    """A new revision: the title and description as given, plus a markdown block if any."""
    _check_markdown(markdown)
    if not title.strip():
        views.refuse("title: required; give the report a title", "title")
    view = views.read_view(uow, principal, node_id)
    spec = json.loads(view.spec)
    if markdown.strip():
        spec = with_markdown(spec, markdown)
    given = views.ViewInput(
        id=node_id,
        entity_name=None,
        project_name=None,
        name=None,
        display_name=title.strip(),
        description=description.strip(),
        type=None,
        spec=json.dumps(spec),
    )
    updated, _ = views.upsert_view(uow, principal, given)
    return updated
