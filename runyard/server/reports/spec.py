"""The report spec the clients save (`upsertView.spec`), checked before anything is stored.

W&B's spec is a large, evolving JSON document; Runyard stores it as given and checks the
parts it renders: every block's `type` and every panel's `viewType` must be one it knows, so
a typo or an unsupported panel is refused with its path instead of rendering as nothing.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runyard.server.errors import ErrorCode, ServiceError

# Block types of `wandb_workspaces.reports.v2` (and the app's editor), top level or collapsed
# under a heading.
BLOCK_TYPES = frozenset(
    {
        "paragraph",
        "default",
        "heading",
        "code-block",
        "markdown-block",
        "latex",
        "image",
        "list",
        "block-quote",
        "callout-block",
        "horizontal-rule",
        "video",
        "spotify",
        "soundcloud",
        "gallery",
        "table-of-contents",
        "twitter",
        "weave-panel",
        "panel-grid",
    }
)

# Panel view types a panel grid may hold.
PANEL_TYPES = frozenset(
    {
        "Run History Line Plot",
        "Scalar Chart",
        "Bar Chart",
        "Scatter Plot",
        "Parallel Coordinates Plot",
        "Parameter Importance",
        "Run Comparer",
        "Media Browser",
        "Markdown Panel",
        "Code Comparer",
        "Vega2",
        "Weave",
        "Weave Trace",
    }
)

MAX_SPEC_BYTES = 5 * 1024 * 1024
MAX_BLOCKS = 2000


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PanelIn(_Loose):
    """A panel of a grid: only its view type is checked here."""

    view_type: str = Field(alias="viewType")


class SectionIn(_Loose):
    """A grid's panel section."""

    panels: list[PanelIn] = Field(default_factory=list)


class GridMetadataIn(_Loose):
    """A panel grid's run sets and panels."""

    run_sets: list[dict[str, Any]] = Field(default_factory=list, alias="runSets")
    panel_bank_section_config: SectionIn = Field(
        default_factory=SectionIn, alias="panelBankSectionConfig"
    )


class BlockIn(_Loose):
    """One block; `collapsedChildren` are blocks folded under a heading."""

    type: str
    collapsed_children: list[BlockIn] | None = Field(default=None, alias="collapsedChildren")


class SpecIn(_Loose):
    """The spec document: blocks plus settings Runyard keeps as given."""

    blocks: list[BlockIn] = Field(default_factory=list, max_length=MAX_BLOCKS)
    width: str | None = None


def _invalid(message: str, **details: Any) -> ServiceError:
    return ServiceError(ErrorCode.INVALID, message, details=details or None)


def _check_blocks(blocks: list[dict[str, Any]], path: str) -> None:
    for i, block in enumerate(blocks):
        where = f"{path}[{i}]"
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            raise _invalid(
                f"spec{where}.type: unknown block type {kind!r}; use one of: "
                + ", ".join(sorted(BLOCK_TYPES)),
                field=f"spec{where}.type",
                value=kind,
            )
        if kind == "panel-grid":
            meta = GridMetadataIn.model_validate(block.get("metadata") or {})
            for j, panel in enumerate(meta.panel_bank_section_config.panels):
                if panel.view_type not in PANEL_TYPES:
                    field = f"spec{where}.metadata.panelBankSectionConfig.panels[{j}].viewType"
                    raise _invalid(
                        f"{field}: unknown panel type {panel.view_type!r}; use one of: "
                        + ", ".join(sorted(PANEL_TYPES)),
                        field=field,
                        value=panel.view_type,
                    )
        collapsed = block.get("collapsedChildren")
        if isinstance(collapsed, list):
            _check_blocks(collapsed, f"{where}.collapsedChildren")


def parse_spec(text: str) -> dict[str, Any]:
    """The spec JSON as a dict, refused with the path of the first unknown block or panel."""
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise _invalid(f"spec: at most {MAX_SPEC_BYTES} bytes; split the report", field="spec")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(f"spec: not JSON ({exc.msg} at {exc.pos})", field="spec") from exc
    if not isinstance(doc, dict):
        raise _invalid("spec: must be a JSON object with `blocks`", field="spec")
    try:
        SpecIn.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise _invalid(f"spec{loc}: {first['msg']}", field=f"spec{loc}") from exc
    _check_blocks(doc.get("blocks") or [], ".blocks")
    return doc
