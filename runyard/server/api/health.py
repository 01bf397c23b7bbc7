"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runyard.server.deps import get_state
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The database answers; a load balancer may send traffic."""
    try:
        UnitOfWork(get_state(request)).ping()
    except Exception as exc:  # any database failure means not ready
        error = f"database unreachable: {type(exc).__name__}"
        return JSONResponse({"status": "unavailable", "error": error}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus exposition of the server's metrics."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
