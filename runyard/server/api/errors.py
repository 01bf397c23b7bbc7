"""Error bodies shared by the HTTP routes."""

from __future__ import annotations

from fastapi import HTTPException

from runyard.server.tracking.runs import TrackingError


def http_error(exc: TrackingError) -> HTTPException:
    """Turn a TrackingError into the HTTP error it describes."""
    return HTTPException(status_code=exc.status, detail=str(exc))
