"""`POST /graphql`: authenticate, then execute with a real GraphQL engine (graphql-core)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ariadne import graphql_sync
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType
from starlette.concurrency import run_in_threadpool

from runyard.server.cluster import messages
from runyard.server.deps import authenticate_request, get_state, public_base_url
from runyard.server.error_handlers import note_storage_failure
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.failures import service_error_for, storage_reason
from runyard.server.graphql.context import GraphQLContext
from runyard.server.graphql.executor import Executor
from runyard.server.graphql.limits import GraphQLLimits, check_limits, parse_limited
from runyard.server.graphql.schema import build_schema
from runyard.server.graphql.validation_cache import ParsedDocuments, ValidatedDocuments
from runyard.server.input_limits import loads_limited
from runyard.server.state import ServerState
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)
router = APIRouter(tags=["graphql"])


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """Show our own errors' messages; hide internals of unexpected ones."""
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    # A full disk, a value past its column or too deep JSON is the service error it stands for.
    mapped = service_error_for(original) if original is not None else None
    if mapped is not None and mapped is not original:
        formatted["message"] = mapped.message
        if mapped.code is ErrorCode.INSUFFICIENT_STORAGE:
            logger.error("graphql write failed on storage", extra={"reason": mapped.message})
    elif original is not None and not isinstance(original, ServiceError | ValueError):
        logger.error("graphql resolver failed", exc_info=original, extra={"path": error.path})
        formatted["message"] = "internal server error (see the server log)"
    if mapped is not None:
        extensions = formatted.setdefault("extensions", {})
        extensions["status"] = mapped.status
        extensions["code"] = mapped.code.value
        extensions.update(mapped.details)  # e.g. each invalid template value ("problems")
    return formatted


def _error_body(error: ServiceError) -> dict[str, Any]:
    extensions = {"status": error.status, "code": error.code.value}
    return {"errors": [{"message": error.message, "extensions": extensions}]}


def _storage_failure(result: dict[str, Any]) -> str | None:
    """The message of a result's full-or-read-only storage error (answered as a 507), if any."""
    for error in result.get("errors") or []:
        if (error.get("extensions") or {}).get("code") == ErrorCode.INSUFFICIENT_STORAGE.value:
            return str(error.get("message"))
    return None


# Root fields whose refused input W&B answers with its HTTP status, not 200: the official
# client takes a 4xx from upsertSweep as a usage error (a bad config, a queue variable the
# sweep does not set) instead of retrying the older mutation shapes it keeps as fallbacks,
# one of which would quietly make a plain sweep of a launch sweep. Access refusals stay in
# the 200 body, as for every other field.
# Document texts the schema accepted, validated once, and texts within the limits, parsed
# once (validation_cache.py says why).
VALIDATED = ValidatedDocuments()
PARSED = ParsedDocuments()

HTTP_STATUS_FIELDS = frozenset({"upsertSweep"})
HTTP_STATUS_CODES = frozenset({ErrorCode.INVALID.value, ErrorCode.UNPROCESSABLE.value})


def _refusal_status(result: dict[str, Any]) -> int | None:
    """The 4xx status of a refused HTTP_STATUS_FIELDS field in `result`, if any."""
    for error in result.get("errors") or []:
        path = error.get("path") or []
        extensions = error.get("extensions") or {}
        status = extensions.get("status")
        if not (path and path[0] in HTTP_STATUS_FIELDS and isinstance(status, int)):
            continue
        if extensions.get("code") in HTTP_STATUS_CODES:
            return status
    return None


def _execute(
    state: ServerState,
    authorization: str | None,
    base_url: str,
    data: Any,
    on_enqueued: Callable[[], None],
    on_behalf_of: tuple[str, str] = ("", ""),
) -> tuple[bool, dict[str, Any]]:
    # Too big a query is refused before anything else runs (the standard validation rules
    # included: some are quadratic in the number of fields).
    settings = state.settings
    limits = GraphQLLimits(
        max_depth=settings.graphql_max_depth,
        max_fields=settings.graphql_max_fields,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
    )
    document = PARSED.get(data["query"], limits)
    if document is None:
        try:
            document = parse_limited(data["query"], limits)
        except GraphQLError as error:
            return False, {"errors": [format_error(error)]}
        too_big = check_limits(document, limits)
        if too_big:
            return False, {"errors": [format_error(error) for error in too_big]}
        PARSED.put(data["query"], limits, document)
    # A mutation's unit writes; its session locks (on SQLite) at its first statement, not
    # before: a resolver that only uses the queue store must not hold the lock the store needs.
    uow = UnitOfWork(state, write=_is_mutation(document, data))
    principal = authenticate_request(uow, authorization)
    uow.actor = principal.username
    try:
        context = GraphQLContext(
            uow,
            principal,
            state,
            base_url,
            on_enqueued,
            wandb_username=on_behalf_of[0],
            wandb_user_email=on_behalf_of[1],
        )
        success, result = graphql_sync(
            build_schema(),
            data,
            query_document=document,
            context_value=context,
            introspection=True,
            error_formatter=format_error,
            query_validator=VALIDATED,
            execution_context_class=Executor,
        )
        # A failed mutation writes nothing: commit only a fully successful operation.
        if success and not result.get("errors"):
            uow.commit()
        else:
            uow.rollback()
        return success, result
    finally:
        uow.close()


def _is_mutation(document: DocumentNode, data: dict[str, Any]) -> bool:
    """Whether the operation to run writes (then it takes the write lock at once)."""
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
        data = loads_limited(await request.body(), "graphql request body")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        message = f"request body is not valid JSON: {exc}"
        return JSONResponse({"errors": [{"message": message}]}, status_code=400)
    except ServiceError as exc:
        return JSONResponse(_error_body(exc), status_code=exc.status)
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        message = 'body must be a JSON object with a "query" string'
        return JSONResponse({"errors": [{"message": message}]}, status_code=400)
    if not data.get("operationName"):
        # Newer clients send "" for a document holding one named operation.
        data.pop("operationName", None)
    bus = request.app.state.bus

    def on_enqueued() -> None:
        bus.publish(messages.work())  # thread-safe; reaches claims on every replica

    try:
        success, result = await run_in_threadpool(
            _execute,
            get_state(request),
            request.headers.get("authorization"),
            public_base_url(request),
            data,
            on_enqueued,
            # The official client sends both on every request (empty unless set in its env).
            (
                request.headers.get("x-wandb-username", "").strip(),
                request.headers.get("x-wandb-user-email", "").strip(),
            ),
        )
    except HTTPException as exc:
        if exc.status_code != 401:
            raise
        # GraphQL clients read `errors[].message`: say why the key was refused (e.g. a
        # disabled user) there, not only in a REST-style `detail`.
        error = {"message": exc.detail, "extensions": {"code": "unauthenticated", "status": 401}}
        return JSONResponse({"errors": [error]}, status_code=401, headers=exc.headers)
    except Exception as exc:
        # The commit itself failed (a full disk), or the document broke the parser.
        service_error = service_error_for(exc)
        if service_error is None:
            raise
        if service_error.code is ErrorCode.INSUFFICIENT_STORAGE:
            note_storage_failure(request, storage_reason(exc))
        return JSONResponse(_error_body(service_error), status_code=service_error.status)
    reason = _storage_failure(result)
    if reason is not None:
        # 507, not 200: the write did not happen and clients retry 5xx answers.
        note_storage_failure(request, reason)
        return JSONResponse(result, status_code=507)
    refused = _refusal_status(result)
    if refused is not None:
        return JSONResponse(result, status_code=refused)
    return JSONResponse(result, status_code=200 if success else 400)
