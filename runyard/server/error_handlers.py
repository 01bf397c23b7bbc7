"""App-wide exception handlers: service errors and low-level failures become clear answers.

Services raise `ServiceError`s and this is where REST and UI pages map them (routes never
catch them); the rest catch what escapes: a full or read-only
storage (507, and the server reports not ready), a value past its column's range or JSON
nested too deeply (422). Anything else stays an internal error.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.failures import service_error_for, storage_reason
from runyard.server.storage_health import StorageHealth
from runyard.server.ui.pages import error_page


def error_response(error: ServiceError) -> JSONResponse:
    """The REST body of a service error: its message (with its details, if any) and code."""
    detail = {"message": error.message, **error.details} if error.details else error.message
    return JSONResponse({"detail": detail, "code": error.code.value}, error.status)


def note_storage_failure(request: Request, reason: str | None) -> None:
    """Mark the server not ready: a write failed on a full or read-only storage."""
    health: StorageHealth | None = getattr(request.app.state, "storage_health", None)
    if reason is not None and health is not None:
        health.failed(reason)


async def _service_error(request: Request, exc: Exception) -> Response:
    """The one mapping of a service's refusal: an error page on UI pages, JSON elsewhere."""
    assert isinstance(exc, ServiceError)
    return error_page(request, exc) or error_response(exc)


async def _low_level(request: Request, exc: Exception) -> Response:
    error = service_error_for(exc)
    if error is None:
        raise exc  # a genuine internal failure: the server error middleware logs it (500)
    if error.code is ErrorCode.INSUFFICIENT_STORAGE:
        note_storage_failure(request, storage_reason(exc))
    return error_response(error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # FastAPI reports any failure to parse a JSON body as a bare 400; too deep a body is
    # a limit the client can fix, so say which.
    if isinstance(exc.__cause__, RecursionError):
        error = service_error_for(exc.__cause__)
        assert error is not None
        return error_response(error)
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    for low_level in (SQLAlchemyError, OSError, OverflowError, RecursionError):
        app.add_exception_handler(low_level, _low_level)
