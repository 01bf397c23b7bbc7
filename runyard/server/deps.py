"""FastAPI dependencies: server state, a unit of work per request, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from runyard.server.auth import AuthError, Principal, key_from_authorization, principal_for_key
from runyard.server.state import ServerState
from runyard.server.unit_of_work import UnitOfWork


def get_state(request: Request) -> ServerState:
    """Return the server state attached to the app."""
    state: ServerState = request.app.state.runyard
    return state


def unit_of_work(
    request: Request, state: Annotated[ServerState, Depends(get_state)]
) -> Iterator[UnitOfWork]:
    """Yield the request's unit of work, committed when the handler returns normally.

    GET and HEAD read; other methods write (on SQLite: the write lock at the first statement).
    """
    with UnitOfWork(state, write=request.method not in ("GET", "HEAD")) as uow:
        yield uow


def authenticate(session: Session, authorization: str | None) -> Principal:
    """Return the caller, or raise a 401 whose body says what to fix."""
    try:
        return principal_for_key(session, key_from_authorization(authorization))
    except AuthError as exc:
        raise HTTPException(
            status_code=401,
            detail=str(exc),
            headers={"WWW-Authenticate": 'Basic realm="runyard"'},
        ) from exc


def authenticate_request(uow: UnitOfWork, authorization: str | None) -> Principal:
    """The caller, authenticated in a short session of its own (see `current_principal`)."""
    with uow.read_session() as session:
        return authenticate(session, authorization)


def current_principal(
    request: Request, state: Annotated[ServerState, Depends(get_state)]
) -> Principal:
    """The authenticated caller of this request.

    Authentication uses a session of its own, closed before the handler runs: on
    SQLite every transaction holds the write lock, and a handler that opens another
    connection (the queue store does) must not wait on its own request's lock.
    """
    return authenticate_request(UnitOfWork(state), request.headers.get("authorization"))


def public_base_url(request: Request) -> str:
    """The URL clients use to reach this server, for capability URLs."""
    configured = get_state(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


PrincipalDep = Annotated[Principal, Depends(current_principal)]
StateDep = Annotated[ServerState, Depends(get_state)]
# "function" scope: commit before the response is sent, so a client that got its answer
# reads its own write on the next request (the default commits after sending).
UowDep = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
