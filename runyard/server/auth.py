"""API keys: format, hashing, lookup, and the admin bootstrap at first start."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.db.models import ApiKey, Entity, TeamMember, User

# W&B's format: 40+ chars of [A-Za-z0-9_], optionally behind a lowercase `prefix-`.
API_KEY_RE = re.compile(r"^(?:[a-z0-9]+-)?[A-Za-z0-9_]{40,}$")
KEY_PREFIX = "runyard-"
_ALPHABET = string.ascii_letters + string.digits


class AuthError(Exception):
    """Raised when a request carries no valid API key."""


class Role(StrEnum):
    """A user's role on an entity (a personal entity's owner is its admin)."""

    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request, with its role on each entity it belongs to."""

    user_id: int
    username: str
    email: str
    is_admin: bool
    entity_id: int
    entity_name: str
    roles: Mapping[str, Role] = field(default_factory=dict)
    is_service_account: bool = False


def generate_api_key() -> str:
    """Return a new random key in W&B's format (a 40-char suffix, as clients check)."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))


def hash_api_key(key: str) -> str:
    """Digest a key for storage; keys carry ~238 bits of entropy, so a plain SHA-256 suffices."""
    return hashlib.sha256(key.encode()).hexdigest()


def validate_api_key_format(key: str) -> None:
    """Raise ValueError naming the rule when `key` is not in W&B's API key format."""
    if not API_KEY_RE.match(key):
        raise ValueError(
            "API key must be 40 or more characters of [A-Za-z0-9_], optionally after a "
            "lowercase 'prefix-' (e.g. 'runyard-' + 40 characters)"
        )


def key_from_authorization(header: str | None) -> str:
    """Extract the API key from `Basic api:<key>` (W&B clients) or `Bearer <key>` (native)."""
    if not header:
        raise AuthError("missing Authorization header: send 'Bearer <api key>' or Basic api:<key>")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise AuthError("malformed Basic credentials: expected base64 of 'api:<key>'") from exc
        _, sep, key = decoded.partition(":")
        if not sep:
            raise AuthError("malformed Basic credentials: expected base64 of 'api:<key>'")
        return key
    raise AuthError(f"unsupported Authorization scheme {scheme!r}: use Bearer or Basic")


def principal_for_key(session: Session, key: str) -> Principal:
    """Look up the user owning `key`, or raise AuthError (unknown key, disabled user)."""
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))).first()
    if row is None:
        raise AuthError("invalid API key: check WANDB_API_KEY / the key printed at first start")
    user = row.user
    if user.disabled_at is not None:
        raise AuthError(
            f"user {user.username!r} is disabled: ask an instance admin to enable the account"
        )
    return principal_for_user(session, user)


def principal_for_user(session: Session, user: User) -> Principal:
    """The principal of `user`: admin of its own entity, plus its role in each team."""
    roles: dict[str, Role] = {}
    if not user.is_service_account:
        # A person administers their personal entity, named after them; their default
        # entity may have been set to a team since (then the membership row decides it).
        if not user.default_entity.is_team:
            roles[user.default_entity.name] = Role.ADMIN
        else:
            personal = session.scalars(
                select(Entity.name).where(Entity.name == user.username, Entity.is_team.is_(False))
            ).first()
            if personal is not None:
                roles[personal] = Role.ADMIN
    memberships = session.execute(
        select(Entity.name, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Entity.id)
        .where(TeamMember.user_id == user.id)
    )
    for name, role in memberships:
        roles[name] = Role(role)
    return Principal(
        user_id=user.id,
        username=user.username,
        email=user.email,
        is_admin=user.is_admin,
        entity_id=user.default_entity_id,
        entity_name=user.default_entity.name,
        roles=roles,
        is_service_account=user.is_service_account,
    )


def create_user(
    session: Session, username: str, *, email: str = "", is_admin: bool = False
) -> User:
    """Create a user together with its personal entity (named after the user)."""
    entity = Entity(name=username)
    session.add(entity)
    session.flush()
    user = User(username=username, email=email, is_admin=is_admin, default_entity_id=entity.id)
    session.add(user)
    session.flush()
    return user


def add_api_key(session: Session, user: User, key: str, description: str = "") -> ApiKey:
    """Store `key` (hashed) for `user`."""
    validate_api_key_format(key)
    row = ApiKey(
        user_id=user.id, key_hash=hash_api_key(key), hint=key[-4:], description=description
    )
    session.add(row)
    session.flush()
    return row


def bootstrap_admin(session: Session, username: str, key: str | None) -> str | None:
    """Create the admin user and key on first start; return the new key, or None if one exists.

    A configured key that is not yet stored is added to the admin, so rotating
    `RUNYARD_ADMIN_API_KEY` works without wiping the database.
    """
    admin = session.scalars(select(User).where(User.username == username)).first()
    if admin is None:
        admin = create_user(session, username, email=f"{username}@localhost", is_admin=True)
    elif (
        key is None
        or session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key))).first()
    ):
        return None
    new_key = key or generate_api_key()
    add_api_key(session, admin, new_key, description="admin bootstrap")
    return new_key


def new_api_key(session: Session, username: str, description: str = "") -> str:
    """Create, store and return a fresh key for an existing user."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise LookupError(
            f"no user named {username!r}: create it first (`runyard user create {username}`, "
            "as an instance admin), or pass --user with an existing username"
        )
    key = generate_api_key()
    add_api_key(session, user, key, description)
    return key
