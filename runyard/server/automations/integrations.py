"""Integrations: where automation actions and alerts send to.

- a generic webhook (W&B's GenericWebhookIntegration): a URL, optionally a team secret that
  signs each body (`X-Wandb-Signature`) and one sent as a bearer token;
- a Slack-compatible incoming webhook (SlackIntegration): a URL and the channel it posts to.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from sqlalchemy import select

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.automations import secrets
from runyard.server.db.automation_models import Integration
from runyard.server.db.models import Entity
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

KINDS = ("webhook", "slack")
NAME = re.compile(r"^[-\w]+( +[-\w]+)*$")
MAX_URL_CHARS = 2048
SECRET_PREFIXES = ("secret://", "$")


def check_url(url: str, field: str = "urlEndpoint") -> str:
    """An http(s) URL with a host, or a ServiceError naming the fix."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {url!r} is not an http(s) URL; give one like https://example.com/hook",
        )
    if len(url) > MAX_URL_CHARS:
        raise ServiceError(
            ErrorCode.TOO_LARGE, f"{field}: over the {MAX_URL_CHARS}-character limit of a URL"
        )
    return url


def check_name(name: str) -> str:
    """A valid integration name (W&B's rule), or a ServiceError."""
    if not NAME.match(name) or len(name) > 64:
        raise ServiceError(
            ErrorCode.INVALID,
            f"name: {name!r} is not a valid integration name: up to 64 letters, digits, '-', "
            "'_' and single spaces",
        )
    return name


def secret_name(ref: str | None, field: str) -> str | None:
    """The team-secret name a reference gives (`NAME`, `secret://NAME` or `${NAME}`)."""
    if ref is None or not ref.strip():
        return None
    name = ref.strip()
    if name.startswith("secret://"):
        name = name[len("secret://") :]
    elif name.startswith("${") and name.endswith("}"):
        name = name[2:-1]
    try:
        return secrets.check_name(name)
    except ServiceError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: {exc}") from exc


def entity_named(uow: UnitOfWork, principal: Principal, name: str, action: Action) -> Entity:
    """The entity, if the caller may do `action` in it."""
    require(principal, name, action)
    entity = uow.session.scalars(select(Entity).where(Entity.name == name)).first()
    if entity is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"entityName: entity {name!r} does not exist")
    return entity


def create_integration(
    uow: UnitOfWork,
    principal: Principal,
    entity_name: str,
    *,
    kind: str,
    name: str,
    url: str,
    secret_ref: str | None = None,
    access_token_ref: str | None = None,
    channel_name: str = "",
    team_name: str = "",
) -> Integration:
    """Add an integration to an entity (its admins); names are unique per kind."""
    entity = entity_named(uow, principal, entity_name, Action.MANAGE)
    if kind not in KINDS:
        raise ServiceError(ErrorCode.INVALID, f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    check_name(name)
    url = check_url(url)
    refs = {
        "secretRef": secret_name(secret_ref, "secretRef"),
        "accessTokenRef": secret_name(access_token_ref, "accessTokenRef"),
    }
    for field, ref in refs.items():
        if ref is not None and secrets.find(uow.session, entity.id, ref) is None:
            raise ServiceError(
                ErrorCode.INVALID,
                f"{field}: no team secret named {ref!r} in {entity_name}; add it first "
                "(insertSecret or `POST /api/v1/entities/{entity}/secrets`)",
            )
    exists = uow.session.scalars(
        select(Integration).where(
            Integration.entity_id == entity.id, Integration.kind == kind, Integration.name == name
        )
    ).first()
    if exists is not None:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"name: {entity_name} already has a {kind} integration named {name!r}",
        )
    row = Integration(
        entity_id=entity.id,
        kind=kind,
        name=name,
        url=url,
        secret_name=refs["secretRef"],
        access_token_name=refs["accessTokenRef"],
        channel_name=channel_name.strip()[:128],
        team_name=team_name.strip()[:128],
        created_at=uow.now(),
    )
    uow.session.add(row)
    uow.session.flush()
    logger.info(
        "integration created", extra={"entity": entity_name, "kind": kind, "integration": name}
    )
    return row


def list_integrations(
    uow: UnitOfWork, principal: Principal, entity_name: str, *, after_id: int = 0, limit: int = 50
) -> tuple[list[Integration], bool]:
    """A page of an entity's integrations (oldest first) and whether more follow."""
    entity = entity_named(uow, principal, entity_name, Action.READ)
    rows = list(
        uow.session.scalars(
            select(Integration)
            .where(Integration.entity_id == entity.id, Integration.id > after_id)
            .order_by(Integration.id)
            .limit(limit + 1)
        )
    )
    return rows[:limit], len(rows) > limit
