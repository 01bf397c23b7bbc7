"""Names of users and entities: one pattern, one namespace (a username is an entity name)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runyard.server.db.models import Entity, User
from runyard.server.errors import ErrorCode, ServiceError

# W&B's rule for usernames and team names: lowercase letters, digits, '-' and '_'.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_NAME = 64

# The web app serves W&B's URLs, `/<entity>/<project>/...`: an entity named like one of the
# server's own first path segments (or one kept for pages to come) would be unreachable or
# would shadow that path, so no user or team may take these names.
RESERVED_NAMES = frozenset(
    {
        # served today
        "api", "artifacts", "docs", "files", "graphql", "healthz", "launch", "login",
        "logout", "metrics", "projects", "readyz", "redoc", "runs", "settings", "static",
        "storage", "teams", "ui",
        # kept for the server's own pages and endpoints
        "about", "account", "auth", "automations", "health", "help", "home", "jobs",
        "models", "oauth", "oidc", "orgs", "registry", "reports", "signup", "sso", "sweeps",
        "users", "well-known",
        # `/launch/items/<id>` and `/launch/agents/<id>` would hide such an entity's queues
        "agents", "items",
    }
)  # fmt: skip


def is_reserved(name: str) -> bool:
    """Whether `name` is a first path segment of the server's own, never an entity."""
    return name in RESERVED_NAMES


def check_name(name: str, field: str) -> str:
    """Return `name` if it is a valid user or team name, else raise naming the rule."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {name!r} is not a valid name: use 1 to {MAX_NAME} lowercase letters, "
            "digits, '-' or '_', starting with a letter or digit (e.g. 'ml-team')",
        )
    if is_reserved(name):
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {name!r} is reserved: the web app uses /{name}/ for its own pages, "
            "so no user or team can be named so; pick another name (e.g. "
            f"'{name}-team')",
        )
    return name


def ensure_name_free(session: Session, name: str, field: str) -> None:
    """Raise a conflict when a user or an entity already has `name` (they share a namespace)."""
    taken_by_user = session.scalars(select(User.id).where(User.username == name)).first()
    taken_by_entity = session.scalars(select(Entity.id).where(Entity.name == name)).first()
    if taken_by_user is not None or taken_by_entity is not None:
        kind = "a user" if taken_by_user is not None else "a team or entity"
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"{field}: {name!r} is already taken by {kind}: user and team names share one "
            "namespace, pick another name",
        )


@contextmanager
def claiming(session: Session, name: str, field: str) -> Iterator[None]:
    """Insert under a savepoint: losing a race for `name` is a conflict, not a server error."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"{field}: {name!r} was taken by another request at the same time: pick another name",
        ) from exc
