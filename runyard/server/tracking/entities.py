"""Reading entities and users: an entity by name, the owner of a personal entity, API keys."""

from __future__ import annotations

from sqlalchemy import select

from runyard.server.auth import Principal
from runyard.server.db.models import ApiKey, Entity, Run, User
from runyard.server.people.attribution import run_user
from runyard.server.unit_of_work import UnitOfWork


def find_entity(uow: UnitOfWork, name: str) -> Entity | None:
    """An entity by name, or None."""
    return uow.session.scalars(select(Entity).where(Entity.name == name)).first()


def owner_of(uow: UnitOfWork, entity: Entity) -> Principal | None:
    """The user whose personal entity this is, as a Principal (None for teams)."""
    owner = uow.session.scalars(select(User).where(User.default_entity_id == entity.id)).first()
    if owner is None:
        return None
    return Principal(
        user_id=owner.id,
        username=owner.username,
        email=owner.email,
        is_admin=owner.is_admin,
        entity_id=entity.id,
        entity_name=entity.name,
    )


def api_keys_of(uow: UnitOfWork, principal: Principal) -> list[ApiKey]:
    """The caller's API keys, oldest first (rows hold only a hint, never the key)."""
    return list(
        uow.session.scalars(
            select(ApiKey).where(ApiKey.user_id == principal.user_id).order_by(ApiKey.id)
        )
    )


def user_of_run(uow: UnitOfWork, run: Run) -> Principal | None:
    """Who started the run (a service account's run: the member it named), else the owner
    of the run's entity."""
    return run_user(uow.session, run) or owner_of(uow, run.project.entity)
