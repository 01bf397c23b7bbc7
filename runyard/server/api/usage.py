"""`/api/v1/usage`: GPU-hours by user, project, queue, pool or run."""

from __future__ import annotations

from fastapi import APIRouter

from runyard.server.deps import PrincipalDep, UowDep
from runyard.server.usage.accounting import UsageReport
from runyard.server.usage.service import gpu_usage

router = APIRouter(prefix="/api/v1", tags=["usage"])


@router.get("/usage/gpu-hours", response_model=UsageReport)
def gpu_hours(
    uow: UowDep,
    principal: PrincipalDep,
    by: str = "user",
    since: str = "7d",
    entity: str | None = None,
) -> UsageReport:
    """GPU-hours of launched items in the last `since` (30m, 12h, 7d, 2w), summed by `by`
    (user, project, queue, pool, run), over the queues you may read (of `entity` if given)."""
    return gpu_usage(uow, principal, by, since, entity)
