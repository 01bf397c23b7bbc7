"""Read-side look-ups of people for the adapters: who a user is, their teams and keys, the org.

The people services (`users`, `teams`, `keys`) create and change; these functions find. They
show a caller only what the access rule lets it read. Runyard has one implicit organization
per server (`ORGANIZATION`): every user belongs to it and its org entity (where the Registry
keeps its projects) is created at first start.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.access import readable_entities
from runyard.server.auth import Principal
from runyard.server.db.models import ApiKey, Entity, TeamMember, User
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people import keys
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

ORGANIZATION = "runyard"


def current_user(uow: UnitOfWork, principal: Principal) -> User:
    """The caller's own user row."""
    session = uow.session
    user = session.get(User, principal.user_id)
    if user is None:  # the key's user was deleted mid-request
        raise ServiceError(ErrorCode.UNAUTHENTICATED, "the caller's user no longer exists")
    return user


def find_user(uow: UnitOfWork, principal: Principal, who: str | int) -> User:
    """A user by username, email or id; others than the caller only for instance admins.

    Non-admins asking for anyone else get `not found`, so usernames cannot be probed.
    """
    session = uow.session
    if isinstance(who, int):
        query = select(User).where(User.id == who)
    elif "@" in who:
        query = select(User).where(User.email == who).order_by(User.id)
    else:
        query = select(User).where(User.username == who)
    user = session.scalars(query).first()
    if user is None or not (principal.is_admin or user.id == principal.user_id):
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"user {who!r} does not exist or you may not see it: instance admins see every "
            "user, others only themselves",
        )
    return user


def user_by_id(uow: UnitOfWork, user_id: int) -> User:
    """A user row by id, for callers that already hold a principal of it."""
    session = uow.session
    user = session.get(User, user_id)
    if user is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"no user with id {user_id}")
    return user


def personal_entity(session: Session, user: User) -> Entity | None:
    """The user's personal entity (named after them), whatever their default entity is now."""
    if not user.default_entity.is_team:
        return user.default_entity
    return session.scalars(
        select(Entity).where(Entity.name == user.username, Entity.is_team.is_(False))
    ).first()


def teams_of(uow: UnitOfWork, principal: Principal, user: User) -> list[Entity]:
    """The user's personal entity and teams, limited to those the caller may read."""
    session = uow.session
    rows = list(
        session.scalars(
            select(Entity)
            .join(TeamMember, TeamMember.team_id == Entity.id)
            .where(TeamMember.user_id == user.id)
            .order_by(TeamMember.id)
        )
    )
    personal = None if user.is_service_account else personal_entity(session, user)
    if personal is not None:
        rows.insert(0, personal)
    readable = readable_entities(principal)
    seen: set[int] = set()
    out = []
    for entity in rows:
        if entity.id not in seen and (readable is None or entity.name in readable):
            seen.add(entity.id)
            out.append(entity)
    return out


def keys_of(uow: UnitOfWork, principal: Principal, user: User) -> list[ApiKey]:
    """The user's API keys (their hints, never the keys); empty for callers who may not see them.

    Keys show wherever a user does (a run's author, a project's owner), so this answers
    empty rather than refusing the whole read.
    """
    if not keys.may_manage_keys_of(principal, user):
        return []
    owner = None if user.id == principal.user_id else user.username
    return keys.list_keys(uow, principal, owner)


def entity_for(uow: UnitOfWork, principal: Principal, name: str) -> Entity | None:
    """An entity the caller may read, by name; None when it does not exist or is not readable.

    Both cases answer the same, so a non-member learns nothing about the entity.
    """
    session = uow.session
    readable = readable_entities(principal)
    # Every user belongs to the organization: its entity (where the registries are, each
    # with its own roles) is visible to all.
    if readable is not None and name not in readable and name != ORGANIZATION:
        return None
    return session.scalars(select(Entity).where(Entity.name == name)).first()


def owner_of(uow: UnitOfWork, entity: Entity) -> User | None:
    """The user whose personal entity this is (None for teams and the org entity)."""
    session = uow.session
    if entity.is_team:
        return None
    # A personal entity is named after its user; the user's default entity may have moved.
    return session.scalars(
        select(User).where(User.username == entity.name, User.is_service_account.is_(False))
    ).first()


def org_entity(session: Session) -> Entity | None:
    """The implicit organization's entity (made at first start by `ensure_org_entity`)."""
    return session.scalars(
        select(Entity).where(Entity.name == ORGANIZATION, Entity.is_team.is_(True))
    ).first()


def organization(uow: UnitOfWork) -> Entity | None:
    """The implicit organization's entity, or None (see `org_entity`)."""
    return org_entity(uow.session)


def ensure_org_entity(session: Session) -> Entity | None:
    """Create the implicit organization's entity if its name is free; return it.

    A database from before organizations may hold a user named like it: then there is no
    org entity (the Registry is unavailable) and the log says why.
    """
    entity = org_entity(session)
    if entity is not None:
        return entity
    if session.scalars(select(Entity.id).where(Entity.name == ORGANIZATION)).first() is not None:
        logger.warning(
            "organization entity unavailable: a user already has its name",
            extra={"organization": ORGANIZATION},
        )
        return None
    entity = Entity(name=ORGANIZATION, is_team=True)
    session.add(entity)
    session.flush()
    return entity
