"""Users: created, listed, disabled and enabled by instance admins."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server import auth
from runyard.server.auth import Principal
from runyard.server.clock import utcnow
from runyard.server.db.models import Entity, User
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.names import check_name, claiming, ensure_name_free
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_EMAIL = 256


def require_instance_admin(principal: Principal, what: str) -> None:
    """Raise forbidden unless the caller administers this server."""
    if not principal.is_admin:
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            f"permission denied: {what} needs an instance admin, and {principal.username!r} is "
            "not one; ask an instance admin",
        )


def check_email(email: str) -> str:
    """Return `email` ("" allowed) if it looks like an address, else raise naming the rule."""
    if email and (len(email) > MAX_EMAIL or not _EMAIL_RE.fullmatch(email)):
        raise ServiceError(
            ErrorCode.INVALID,
            f"email: {email[:80]!r} is not an email address: use name@domain "
            f"(at most {MAX_EMAIL} characters), or leave it empty",
        )
    return email


def find_user(session: Session, username: str) -> User:
    """The user named `username`, or a not-found error saying how to list users."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"username: no user named {username!r}: check the spelling "
            "(an instance admin can list users with `runyard user list`)",
        )
    return user


def find_user_by_email(uow: UnitOfWork, email: str) -> User | None:
    """The first user with this email address, if any."""
    session = uow.session
    return session.scalars(select(User).where(User.email == email).order_by(User.id)).first()


def create_user(
    uow: UnitOfWork, principal: Principal, username: str, *, email: str = "", admin: bool = False
) -> tuple[User, str]:
    """Create a user with its personal entity and first API key; return both."""
    session = uow.session
    require_instance_admin(principal, "creating users")
    check_name(username, "username")
    check_email(email)
    ensure_name_free(session, username, "username")
    with claiming(session, username, "username"):
        user = auth.create_user(session, username, email=email, is_admin=admin)
    key = auth.generate_api_key()
    auth.add_api_key(session, user, key, description="first key")
    logger.info("user created", extra={"user": username, "admin": admin, "by": principal.username})
    return user, key


def list_users(uow: UnitOfWork, principal: Principal) -> list[User]:
    """Every user, service accounts included, oldest first (instance admins only)."""
    session = uow.session
    require_instance_admin(principal, "listing users")
    return list(session.scalars(select(User).order_by(User.id)))


def get_user(session: Session, principal: Principal, username: str) -> User:
    """One user: yourself, or anyone for an instance admin."""
    if username != principal.username:
        require_instance_admin(principal, "reading another user")
    return find_user(session, username)


def disable_user(uow: UnitOfWork, principal: Principal, username: str) -> User:
    """Disable a user: its keys stop working at once; the user and its runs are kept."""
    session = uow.session
    require_instance_admin(principal, "disabling users")
    user = find_user(session, username)
    if user.id == principal.user_id:
        raise ServiceError(
            ErrorCode.INVALID,
            f"username: you cannot disable yourself ({username!r}): ask another instance admin",
        )
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        session.flush()
        logger.info("user disabled", extra={"user": username, "by": principal.username})
    return user


def enable_user(uow: UnitOfWork, principal: Principal, username: str) -> User:
    """Enable a disabled user again; its existing keys work again."""
    session = uow.session
    require_instance_admin(principal, "enabling users")
    user = find_user(session, username)
    if user.disabled_at is not None:
        user.disabled_at = None
        session.flush()
        logger.info("user enabled", extra={"user": username, "by": principal.username})
    return user


def set_default_entity(
    uow: UnitOfWork, principal: Principal, username: str, entity_name: str
) -> User:
    """Set where a user's runs go when the client names no entity (an entity it belongs to)."""
    session = uow.session
    if username != principal.username:
        require_instance_admin(principal, "changing another user's default entity")
    user = find_user(session, username)
    entity = session.scalars(select(Entity).where(Entity.name == entity_name)).first()
    roles = auth.principal_for_user(session, user).roles
    if entity is None or entity_name not in roles:
        raise ServiceError(
            ErrorCode.INVALID,
            f"defaultEntity: {username!r} is not a member of an entity named {entity_name!r}: "
            f"pick one of {sorted(roles)}, or ask a team admin to add the user first",
        )
    user.default_entity_id = entity.id
    session.flush()
    session.refresh(user)
    return user
