"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runyard.server.deps import get_state
from runyard.server.readiness import not_ready_reason
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The database answers and storage takes writes; a load balancer may send traffic."""
    reason = not_ready_reason(UnitOfWork(get_state(request)), request.app.state.storage_health)
    if reason is not None:
        return JSONResponse({"status": "unavailable", "error": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus exposition of the server's metrics (behind a bearer token when one is set)."""
    token = get_state(request).settings.metrics_token
    if token is not None and not bearer_matches(
        request.headers.get("authorization"), token.get_secret_value()
    ):
        return JSONResponse(
            {
                "detail": "metrics need `Authorization: Bearer <token>` with the token set in "
                "RUNYARD_METRICS_TOKEN (give it to the Prometheus scrape config)"
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="runyard-metrics"'},
        )
    return Response(
        generate_latest(request.app.state.metrics.exposition), media_type=CONTENT_TYPE_LATEST
    )


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header is `Bearer <token>` (compared in constant time)."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(value.strip().encode(), token.encode())
