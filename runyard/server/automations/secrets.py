"""Team secrets: named values of an entity, encrypted at rest, never shown again or logged.

Encryption is Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`). The key comes from the
`secrets_key` setting, else a key file made once in the data dir (mode 0600); replicas that
share a database must share the key.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.db.automation_models import TeamSecret
from runyard.server.db.models import Entity
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.settings import ServerSettings
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
MAX_VALUE_CHARS = 8192
KEY_FILE = "secrets.key"


@dataclass(frozen=True)
class SecretView:
    """A secret as lists show it: its name, never its value."""

    name: str
    entity_id: int
    created_at: datetime


def _key_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


@cache
def _fernet(key: bytes) -> Fernet:
    return Fernet(key)


def cipher(settings: ServerSettings) -> Fernet:
    """The cipher of this server's team secrets."""
    if settings.secrets_key is not None:
        key = settings.secrets_key.get_secret_value().encode()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = _key_file(settings.data_dir)
    try:
        return _fernet(key)
    except ValueError as exc:
        raise ServiceError(
            ErrorCode.UNAVAILABLE,
            "secrets_key: not a Fernet key (32 bytes, urlsafe base64); make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'`",
        ) from exc


def check_name(name: str) -> str:
    """A valid secret name, or a ServiceError naming the rule."""
    if not NAME.match(name):
        raise ServiceError(
            ErrorCode.INVALID,
            f"secretName: {name!r} is not a valid name: start with a letter or '_', then up to "
            "63 letters, digits, '_' or '-'",
        )
    return name


def _entity(uow: UnitOfWork, principal: Principal, entity_name: str, action: Action) -> Entity:
    require(principal, entity_name, action)
    entity = uow.session.scalars(select(Entity).where(Entity.name == entity_name)).first()
    if entity is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"entityName: entity {entity_name!r} does not exist"
        )
    return entity


def find(session: Session, entity_id: int, name: str) -> TeamSecret | None:
    """The secret of that name in the entity."""
    return session.scalars(
        select(TeamSecret).where(TeamSecret.entity_id == entity_id, TeamSecret.name == name)
    ).first()


def create_secret(
    uow: UnitOfWork, principal: Principal, entity_name: str, name: str, value: str
) -> SecretView:
    """Store a new secret (team admins); an existing name is a conflict, never overwritten."""
    entity = _entity(uow, principal, entity_name, Action.MANAGE)
    check_name(name)
    if not value:
        raise ServiceError(ErrorCode.INVALID, "secretValue: a secret needs a non-empty value")
    if len(value) > MAX_VALUE_CHARS:
        raise ServiceError(
            ErrorCode.TOO_LARGE,
            f"secretValue: {len(value)} characters, over the {MAX_VALUE_CHARS}-character limit",
        )
    if find(uow.session, entity.id, name) is not None:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"secretName: a secret named {name!r} already exists in {entity_name}: delete it "
            "first to replace it, or choose another name",
        )
    token = cipher(uow.settings).encrypt(value.encode()).decode()
    row = TeamSecret(entity_id=entity.id, name=name, ciphertext=token, created_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    logger.info("secret created", extra={"entity": entity_name, "secret": name})
    return SecretView(row.name, entity.id, row.created_at)


def list_secrets(uow: UnitOfWork, principal: Principal, entity_name: str) -> list[SecretView]:
    """The names of an entity's secrets (members who may write to it)."""
    entity = _entity(uow, principal, entity_name, Action.WRITE)
    rows = uow.session.scalars(
        select(TeamSecret).where(TeamSecret.entity_id == entity.id).order_by(TeamSecret.name)
    )
    return [SecretView(r.name, entity.id, r.created_at) for r in rows]


def delete_secret(uow: UnitOfWork, principal: Principal, entity_name: str, name: str) -> None:
    """Delete a secret (team admins); webhooks naming it then send without it."""
    entity = _entity(uow, principal, entity_name, Action.MANAGE)
    row = find(uow.session, entity.id, name)
    if row is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"secretName: no secret named {name!r} in {entity_name}"
        )
    uow.session.delete(row)
    uow.session.flush()
    logger.info("secret deleted", extra={"entity": entity_name, "secret": name})


def reveal(session: Session, settings: ServerSettings, entity_id: int, name: str) -> str | None:
    """The plain value of a secret, for the dispatcher only; None if gone or undecryptable."""
    row = find(session, entity_id, name)
    if row is None:
        return None
    try:
        return cipher(settings).decrypt(row.ciphertext.encode()).decode()
    except InvalidToken:
        logger.error("secret cannot be decrypted with this server's key", extra={"secret": name})
        return None
