"""The shape of a saved workspace view (pydantic), and its validation errors in words."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runyard.server.errors import ErrorCode, ServiceError

PanelKind = Literal["line", "image", "histogram", "table", "html", "audio", "video"]
MAX_VIEW_NAME = 128


class PanelSpec(BaseModel):
    """One panel: what it draws (`kind`) and the logged key it draws."""

    model_config = ConfigDict(extra="forbid")

    kind: PanelKind = "line"
    key: str = Field(min_length=1, max_length=256)


class SectionSpec(BaseModel):
    """A named, collapsible group of panels, in the order the page shows them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    collapsed: bool = False
    panels: list[PanelSpec] = Field(default_factory=list, max_length=1000)


class WorkspaceLayout(BaseModel):
    """A whole workspace as a user arranged it: sections, hidden runs, panel search text."""

    model_config = ConfigDict(extra="forbid")

    sections: list[SectionSpec] = Field(max_length=200)
    hidden_runs: list[str] = Field(default_factory=list, max_length=10_000)
    panel_search: str = Field(default="", max_length=256)


def problems(exc: ValidationError, prefix: str = "layout") -> list[str]:
    """Each validation error as `field.path: what is wrong` (pydantic's words)."""
    out = []
    for err in exc.errors():
        where = ".".join(str(part) for part in (prefix, *err["loc"]))
        out.append(f"{where}: {err['msg']}")
    return out


def parse_layout(raw: object) -> WorkspaceLayout:
    """A layout from a request body, or an INVALID ServiceError naming each bad field."""
    try:
        return WorkspaceLayout.model_validate(raw)
    except ValidationError as exc:
        found = problems(exc)
        raise ServiceError(
            ErrorCode.INVALID,
            "the view's layout is not valid: "
            + "; ".join(found)
            + ". A layout is {sections: [{name, collapsed, panels: [{kind, key}]}], "
            "hidden_runs: [run ids], panel_search: text}",
            details={"problems": found},
        ) from exc


def check_view_name(name: str) -> str:
    """The view name, stripped; an INVALID error naming the field when empty or too long."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_VIEW_NAME or not cleaned.isprintable():
        raise ServiceError(
            ErrorCode.INVALID,
            f"name: a view name is 1 to {MAX_VIEW_NAME} printable characters; got {name!r}",
        )
    return cleaned
