"""Who a run is attributed to: a service account's runs go to the member it names.

W&B clients send `X-WANDB-USERNAME` (from WANDB_USERNAME) and `X-WANDB-USER-EMAIL` on
every GraphQL request. A service account's runs are attributed to that user when the user
belongs to the run's entity; everyone else's runs are their own.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server import auth
from runyard.server.auth import Principal
from runyard.server.db.models import Run, User


def attributed_user_id(caller: Principal, entity_name: str, named: Principal | None) -> int:
    """The user a new run of `caller` in `entity_name` belongs to.

    `named` is the user the request names (WANDB_USERNAME/WANDB_USER_EMAIL), if any exists
    and is enabled. Only service accounts delegate, and only to a member of the entity.
    """
    if not caller.is_service_account or named is None or named.is_service_account:
        return caller.user_id
    if entity_name not in named.roles:
        return caller.user_id
    return named.user_id


def named_user(session: Session, username: str | None, email: str | None) -> Principal | None:
    """The enabled user a request names by username (else by email), with its roles."""
    user: User | None = None
    if username:
        user = session.scalars(select(User).where(User.username == username)).first()
    elif email:
        user = session.scalars(select(User).where(User.email == email).order_by(User.id)).first()
    if user is None or user.disabled_at is not None:
        return None
    return auth.principal_for_user(session, user)


def attribution_for(
    session: Session, caller: Principal, entity_name: str | None, username: str, email: str
) -> int:
    """The user id a new run gets (looks the named user up only for service accounts)."""
    if not caller.is_service_account or not (username or email):
        return caller.user_id
    named = named_user(session, username, email)
    return attributed_user_id(caller, entity_name or caller.entity_name, named)


def run_user(session: Session, run: Run) -> Principal | None:
    """The user a run is attributed to, as a principal without roles (None if unknown)."""
    if run.user_id is None:
        return None
    user = session.get(User, run.user_id)
    if user is None:
        return None
    return Principal(
        user_id=user.id,
        username=user.username,
        email=user.email,
        is_admin=user.is_admin,
        entity_id=user.default_entity_id,
        entity_name=user.default_entity.name,
        is_service_account=user.is_service_account,
    )
