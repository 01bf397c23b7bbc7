"""Where a page sits: breadcrumbs (entity > project > page) and the main navigation, both
derived from the URL alone so every page, present or future, gets them without wiring."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from runyard.server.people.names import is_reserved


@dataclass(frozen=True)
class Crumb:
    """One step of the breadcrumbs; the last one is the page itself (no link needed)."""

    label: str
    href: str | None


@dataclass(frozen=True)
class Tab:
    """A project tab: its label, its URL and the key pages pass as `current`."""

    key: str
    label: str
    href: str


# Project pages by their third URL segment: W&B's names for them.
PROJECT_PAGES = {
    "": "Workspace",
    "workspace": "Workspace",
    "overview": "Overview",
    "table": "Runs",
    "runs": "Runs",
    "jobs": "Jobs",
    "artifacts": "Artifacts",
    "sweeps": "Sweeps",
    "reports": "Reports",
    "automations": "Automations",
}
# The section a project sub-page's list lives at (the run page's parent is the runs table).
PROJECT_LISTS = {"runs": "table"}
# Server pages by their first URL segment: the label of their section and whether that
# section has a page of its own to link to.
TOP_PAGES = {
    "launch": ("Launch", True),
    "teams": ("Teams", True),
    "settings": ("Settings", False),
    "registry": ("Registry", True),
}
SUB_LABELS = {"keys": "API keys", "usage": "GPU usage"}
MAIN_NAV = (
    ("Projects", "/"),
    ("Launch", "/launch"),
    ("Registry", "/registry"),
    ("Teams", "/teams"),
    ("API keys", "/settings/keys"),
)


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _join(parts: list[str]) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def project_tabs(entity: str, project: str) -> list[Tab]:
    """The tabs of a project page, in W&B's order (a tab appears once its page exists)."""
    base = _join([entity, project])
    return [
        Tab("overview", "Overview", f"{base}/overview"),
        Tab("workspace", "Workspace", base),
        Tab("table", "Runs", f"{base}/table"),
        Tab("jobs", "Jobs", f"{base}/jobs"),
        Tab("artifacts", "Artifacts", f"{base}/artifacts"),
        Tab("sweeps", "Sweeps", f"{base}/sweeps"),
        Tab("reports", "Reports", f"{base}/reports"),
        Tab("automations", "Automations", f"{base}/automations"),
        Tab("launch", "Launch", "/launch"),
    ]


def _server_crumbs(parts: list[str]) -> list[Crumb]:
    """Crumbs of the server's own pages: the section, then each segment; a segment without a
    page of its own (`/launch/<entity>`) is plain text, and the last one is the page."""
    if parts[0] == "orgs" and len(parts) >= 3 and parts[2] == "registry":
        home = _join(parts[:3])
        return [Crumb("Registry", home)] + [
            Crumb(p, _join(parts[: i + 1])) for i, p in enumerate(parts[3:], start=3)
        ]
    if parts[0] not in TOP_PAGES:
        return []
    label, linked = TOP_PAGES[parts[0]]
    crumbs = [Crumb(label, _join(parts[:1]) if linked else None)]
    for i, p in enumerate(parts[1:], start=1):
        last = i == len(parts) - 1
        crumbs.append(Crumb(SUB_LABELS.get(p, p), _join(parts[: i + 1]) if last else None))
    return crumbs


def breadcrumbs(path: str) -> list[Crumb]:
    """Breadcrumbs for a page URL: `/e/p/runs/r1` → e > p > Runs > r1 (empty for `/`)."""
    parts = _segments(path)
    if not parts:
        return []
    first = parts[0]
    if is_reserved(first):
        return _server_crumbs(parts)
    crumbs = [Crumb(first, _join([first]))]
    if len(parts) == 1:
        return crumbs
    entity, project, rest = first, parts[1], parts[2:]
    crumbs.append(Crumb(project, _join([entity, project])))
    section = rest[0] if rest else ""
    label = PROJECT_PAGES.get(section)
    if label is None:
        return crumbs
    target = PROJECT_LISTS.get(section, section)
    crumbs.append(Crumb(label, _join([entity, project, target]) if target else crumbs[-1].href))
    crumbs += [Crumb(p, _join(parts[: i + 3])) for i, p in enumerate(rest[1:], start=1)]
    return crumbs


def main_nav(path: str) -> list[tuple[str, str, bool]]:
    """The header's links as (label, href, is the current section)."""
    first = (_segments(path) or [""])[0]
    current = {"launch": "/launch", "registry": "/registry", "orgs": "/registry",
               "teams": "/teams", "settings": "/settings/keys"}.get(first, "/")  # fmt: skip
    return [(label, href, href == current) for label, href in MAIN_NAV]
