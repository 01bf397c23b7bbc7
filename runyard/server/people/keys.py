"""API keys: create, list and revoke your own; instance admins any; team admins their bots'."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server import auth
from runyard.server.access import Action, allows
from runyard.server.auth import Principal
from runyard.server.db.models import ApiKey, User
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.users import find_user
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

MAX_DESCRIPTION = 256
MAX_KEY_ID = 2**31 - 1


def may_manage_keys_of(principal: Principal, user: User) -> bool:
    """Whether the caller may see, create and revoke `user`'s keys.

    Yourself; any user for an instance admin; a team's service accounts for the team's admins.
    """
    if principal.is_admin or user.id == principal.user_id:
        return True
    return user.is_service_account and allows(principal, user.default_entity.name, Action.MANAGE)


def _key_owner(session: Session, principal: Principal, username: str | None) -> User:
    if not username or username == principal.username:
        user = session.get(User, principal.user_id)
        assert user is not None  # the caller was authenticated in this request
        return user
    user = find_user(session, username)
    if not may_manage_keys_of(principal, user):
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            f"permission denied: only {username!r} (or an instance admin) manages the keys of "
            f"{username!r}; leave the user unset to use your own",
        )
    return user


def create_key(
    uow: UnitOfWork, principal: Principal, *, username: str | None = None, description: str = ""
) -> str:
    """Create an API key for the caller (or `username`); return it (shown only once)."""
    session = uow.session
    if len(description) > MAX_DESCRIPTION:
        raise ServiceError(
            ErrorCode.INVALID,
            f"description: {len(description)} characters, over the {MAX_DESCRIPTION}-character "
            "limit: shorten it",
        )
    owner = _key_owner(session, principal, username)
    key = auth.generate_api_key()
    auth.add_api_key(session, owner, key, description)
    logger.info("api key created", extra={"user": owner.username, "by": principal.username})
    return key


def list_keys(uow: UnitOfWork, principal: Principal, username: str | None = None) -> list[ApiKey]:
    """The caller's (or `username`'s) keys, oldest first; only their last characters are kept."""
    session = uow.session
    owner = _key_owner(session, principal, username)
    query = select(ApiKey).where(ApiKey.user_id == owner.id).order_by(ApiKey.id)
    return list(session.scalars(query))


def revoke_key(uow: UnitOfWork, principal: Principal, key_id: int) -> None:
    """Delete a key at once: requests carrying it are refused from now on."""
    session = uow.session
    # Ids are 32-bit: a larger one names no key (and must not reach the database as one).
    row = session.get(ApiKey, key_id) if 0 < key_id <= MAX_KEY_ID else None
    # Someone else's key id reads as unknown, so key ids cannot be probed.
    if row is None or not may_manage_keys_of(principal, row.user):
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"id: no API key {key_id} among the keys you manage: list them with `runyard key list`",
        )
    session.delete(row)
    session.flush()
    logger.info("api key revoked", extra={"key_id": key_id, "by": principal.username})
