"""`/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from runyard.server.deps import get_state
from runyard.server.storage_health import StorageHealth, check_writable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The database answers and storage takes writes; a load balancer may send traffic."""
    state = get_state(request)
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means not ready
        error = f"database unreachable: {type(exc).__name__}"
        return JSONResponse({"status": "unavailable", "error": error}, status_code=503)
    # A full or read-only storage: not ready while it lasts, ready again once a probe
    # write succeeds (space freed, volume writable) without a restart.
    health: StorageHealth = request.app.state.storage_health
    dirs = [state.settings.data_dir]
    store_root = getattr(state.store, "root", None)  # the filesystem object store's folder
    if isinstance(store_root, Path) and store_root != state.settings.data_dir:
        dirs.append(store_root)
    check_writable(health, dirs, state.write_sessions)
    if health.reason is not None:
        error = f"storage is full or read-only: {health.reason}"
        return JSONResponse({"status": "unavailable", "error": error}, status_code=503)
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
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an Authorization header is `Bearer <token>` (compared in constant time)."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(value.strip().encode(), token.encode())
