"""What every GraphQL resolver receives as `info.context`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from runyard.server.auth import Principal
from runyard.server.state import ServerState
from runyard.server.unit_of_work import UnitOfWork


@dataclass
class GraphQLContext:
    """The request's unit of work, caller, server state and public base URL."""

    uow: UnitOfWork
    principal: Principal
    state: ServerState
    base_url: str
    # Wakes agents waiting in a claim; safe to call from the resolver's worker thread.
    on_enqueued: Callable[[], None] = lambda: None
    # Who the client says runs on behalf of (WANDB_USERNAME / WANDB_USER_EMAIL): a service
    # account's new runs are attributed to that user when it belongs to the run's entity.
    wandb_username: str = ""
    wandb_user_email: str = ""


def ctx(info: GraphQLResolveInfo) -> GraphQLContext:
    """Typed access to the resolver context."""
    context: Any = info.context
    assert isinstance(context, GraphQLContext)
    return context
