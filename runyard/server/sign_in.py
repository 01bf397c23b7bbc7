"""Who is calling: a principal from an API key or from a signed-in user's id."""

from __future__ import annotations

from runyard.server import auth
from runyard.server.auth import Principal
from runyard.server.db.models import User
from runyard.server.unit_of_work import UnitOfWork


def principal_for_api_key(uow: UnitOfWork, key: str) -> Principal:
    """The owner of `key`, looked up in a short session of its own; AuthError if none."""
    with uow.read_session() as session:
        return auth.principal_for_key(session, key)


def principal_for_user_id(uow: UnitOfWork, user_id: int) -> Principal | None:
    """The principal of a signed-in user, or None if the user is gone or disabled."""
    with uow.read_session() as session:
        user = session.get(User, user_id)
        if user is None or user.disabled_at is not None:
            return None
        return auth.principal_for_user(session, user)
