"""Error bodies shared by the HTTP routes: a ServiceError's code becomes its HTTP status."""

from __future__ import annotations

from fastapi import HTTPException

from runyard.server.errors import ServiceError


def http_error(exc: ServiceError) -> HTTPException:
    """Turn a ServiceError into the HTTP error it describes."""
    return HTTPException(status_code=exc.status, detail=str(exc))
