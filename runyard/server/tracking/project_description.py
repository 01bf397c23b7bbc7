"""A project's description: free text its writers set on the Overview page or through
W&B's `upsertModel(input: {description})`, read back as GraphQL `project { description }`."""

from __future__ import annotations

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import Project
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.registry import access as registry_access
from runyard.server.tracking.access import accessible_project
from runyard.server.unit_of_work import UnitOfWork

# Long enough for a paragraph or two of notes; a description is not a document store.
MAX_DESCRIPTION = 4000


def clean_description(text: str | None) -> str | None:
    """The description to store for `text`: trimmed, `\n` line breaks, None when blank (pure).

    Raises ServiceError(INVALID) naming the field, the limit and the fix when it is too long.
    """
    if text is None:
        return None
    # Browsers post a textarea's line breaks as CRLF: store one form whichever way it came.
    trimmed = text.replace("\r\n", "\n").strip()
    if len(trimmed) > MAX_DESCRIPTION:
        raise ServiceError(
            ErrorCode.INVALID,
            f"description: at most {MAX_DESCRIPTION} characters, got {len(trimmed)};"
            " shorten it (longer notes belong in a report)",
        )
    return trimmed or None


def apply_description(project: Project, text: str | None) -> Project:
    """Store a cleaned description on a project the caller may already write."""
    if registry_access.governs(project.entity.name, project.name):
        # A registry keeps its description with its other settings (`upsertModel` on it).
        raise ServiceError(
            ErrorCode.INVALID,
            "description: a registry's description is one of its settings; set it on the"
            " registry (upsertModel with the registry's name) instead",
        )
    project.description = clean_description(text)
    return project


def set_description(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, text: str | None
) -> Project:
    """Set (or with blank text clear) the description of a project the caller may write."""
    found = accessible_project(uow.session, principal, entity, project, Action.WRITE)
    apply_description(found, text)
    uow.session.flush()
    return found
