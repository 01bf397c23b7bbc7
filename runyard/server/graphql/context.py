"""What every GraphQL resolver receives as `info.context`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo
from sqlalchemy.orm import Session

from runyard.server.auth import Principal
from runyard.server.state import ServerState


@dataclass
class GraphQLContext:
    """The request's database session, caller, server state and public base URL."""

    session: Session
    principal: Principal
    state: ServerState
    base_url: str
    # Wakes agents waiting in a claim; safe to call from the resolver's worker thread.
    on_enqueued: Callable[[], None] = lambda: None
    # Who the client says runs on behalf of (WANDB_USERNAME / WANDB_USER_EMAIL): a service
    # account's new runs are attributed to that user when it belongs to the run's entity.
    wandb_username: str = ""
    wandb_user_email: str = ""


def session_of(info: GraphQLResolveInfo) -> Session:
    """The request's database session, for handing to services (adapters run no queries)."""
    return ctx(info).session


def ctx(info: GraphQLResolveInfo) -> GraphQLContext:
    """Typed access to the resolver context."""
    context: Any = info.context
    assert isinstance(context, GraphQLContext)
    return context
