"""`POST /graphql`: authenticate, then execute with a real GraphQL engine (graphql-core)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from ariadne import graphql_sync
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.concurrency import run_in_threadpool

from runyard.server.deps import authenticate_request, get_state, public_base_url
from runyard.server.errors import ServiceError
from runyard.server.graphql.context import GraphQLContext
from runyard.server.graphql.schema import build_schema
from runyard.server.state import ServerState
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)
router = APIRouter(tags=["graphql"])


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Show our own errors' messages; hide internals of unexpected ones."""
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if original is not None and not isinstance(original, ServiceError | ValueError):
        logger.error("graphql resolver failed", exc_info=original, extra={"path": error.path})
        formatted["message"] = "internal server error (see the server log)"
    if isinstance(original, ServiceError):
        extensions = formatted.setdefault("extensions", {})
        extensions["status"] = original.status
        extensions["code"] = original.code.value
    return formatted


def _execute(
    state: ServerState,
    authorization: str | None,
    base_url: str,
    data: Any,
    on_enqueued: Callable[[], None],
) -> tuple[bool, dict[str, Any]]:
    # A mutation's unit writes; its session locks (on SQLite) at its first statement, not
    # before: a resolver that only uses the queue store must not hold the lock the store needs.
    uow = UnitOfWork(state, write=_is_mutation(data))
    principal = authenticate_request(uow, authorization)
    try:
        context = GraphQLContext(uow, principal, state, base_url, on_enqueued)
        success, result = graphql_sync(
            build_schema(),
            data,
            context_value=context,
            introspection=True,
            error_formatter=format_error,
        )
        # A failed mutation writes nothing: commit only a fully successful operation.
        if success and not result.get("errors"):
            uow.commit()
        else:
            uow.rollback()
        return success, result
    finally:
        uow.close()


def _is_mutation(data: dict[str, Any]) -> bool:
    """Whether the operation to run writes (then it takes the write lock at once)."""
    try:
        document = parse(data["query"])
    except GraphQLError:
        return False
    wanted = data.get("operationName")
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            wanted is None or (definition.name and definition.name.value == wanted)
        ):
            return definition.operation is OperationType.MUTATION
    return False


@router.post("/graphql")
async def graphql_endpoint(request: Request) -> JSONResponse:
    """Execute one GraphQL operation (named or anonymous) for the caller."""
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        message = f"request body is not valid JSON: {exc}"
        return JSONResponse({"errors": [{"message": message}]}, status_code=400)
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        message = 'body must be a JSON object with a "query" string'
        return JSONResponse({"errors": [{"message": message}]}, status_code=400)
    if not data.get("operationName"):
        # Newer clients send "" for a document holding one named operation.
        data.pop("operationName", None)
    loop = asyncio.get_running_loop()
    wakeup = request.app.state.queue_wakeup

    def on_enqueued() -> None:
        loop.call_soon_threadsafe(wakeup.notify)

    success, result = await run_in_threadpool(
        _execute,
        get_state(request),
        request.headers.get("authorization"),
        public_base_url(request),
        data,
        on_enqueued,
    )
    return JSONResponse(result, status_code=200 if success else 400)
