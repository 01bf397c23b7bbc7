"""Error bodies shared by the HTTP routes: a ServiceError's code becomes its HTTP status."""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from runyard.server.errors import ServiceError


def http_error(exc: ServiceError) -> HTTPException:
    """Turn a ServiceError into the HTTP error it describes."""
    return HTTPException(status_code=exc.status, detail=str(exc))


async def service_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """The answer to a ServiceError a route let through: its status, its message as `detail`.

    Access decisions (`runyard.server.access.require`) raise ServiceError from any depth;
    without this mapping a refusal would surface as a 500.
    """
    if not isinstance(exc, ServiceError):  # registered for ServiceError only
        raise exc
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)
