"""Claiming due deliveries and recording their outcome: the dispatcher's database side.

Claims are leases: a claimed delivery is `sending` until its lease ends, and a replica that
died meanwhile leaves it to be claimed again once the lease is over (at least once). On
PostgreSQL replicas claim with `FOR UPDATE SKIP LOCKED`, so each due delivery goes to one of
them; on SQLite the write transaction's lock serialises claims.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from runyard.server.automations.secrets import reveal
from runyard.server.db.automation_models import Delivery, DeliveryAttempt, Event, Integration
from runyard.server.events.backoff import RetryPolicy, next_attempt_at, verdict
from runyard.server.settings import ServerSettings
from runyard.server.state import ServerState

logger = logging.getLogger(__name__)

MAX_RESPONSE_CHARS = 2000
LEASE_MARGIN_S = 30.0


@dataclass(frozen=True)
class Job:
    """One claimed delivery, ready to send. `headers` may hold secrets: never log them."""

    delivery_id: int
    attempt: int
    kind: str
    url: str
    body: str
    headers: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    """What one try got: the HTTP status and the start of the answer, or the error."""

    status: int | None
    response: str
    error: str | None
    started_at: datetime
    duration_ms: int


def policy_of(settings: ServerSettings) -> RetryPolicy:
    """The retry policy the settings give."""
    return RetryPolicy(
        settings.events_backoff_base_s, settings.events_backoff_max_s, settings.events_max_attempts
    )


def lease_s(settings: ServerSettings) -> float:
    """How long a claim lasts: longer than one request may take."""
    return settings.events_delivery_timeout_s + LEASE_MARGIN_S


def _headers(session: Session, settings: ServerSettings, row: Delivery) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Runyard-Webhooks/1",
        "X-Runyard-Delivery": str(row.id),
        "X-Runyard-Event": str(row.event_id),
    }
    integration = session.get(Integration, row.integration_id) if row.integration_id else None
    if integration is None or row.kind != "webhook":
        return headers
    if integration.access_token_name:
        token = reveal(session, settings, integration.entity_id, integration.access_token_name)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
    if integration.secret_name:
        key = reveal(session, settings, integration.entity_id, integration.secret_name)
        if key is not None:
            digest = hmac.new(key.encode(), row.body.encode(), hashlib.sha256).digest()
            headers["X-Wandb-Signature"] = base64.b64encode(digest).decode()
    return headers


def claim_due(
    state: ServerState, replica: str, limit: int, now: datetime
) -> tuple[list[Job], float | None]:
    """Lease up to `limit` due deliveries to `replica`; also seconds until the next is due."""
    settings = state.settings
    with state.write_sessions.begin() as session:
        due = or_(
            and_(Delivery.state == "pending", Delivery.next_attempt_at <= now),
            and_(Delivery.state == "sending", Delivery.lease_until < now),
        )
        ids = session.scalars(
            select(Delivery.id)
            .where(due)
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not ids:
            soonest = session.scalar(
                select(func.min(Delivery.next_attempt_at)).where(Delivery.state == "pending")
            )
            return [], _seconds_until(soonest, now)
        jobs = []
        until = now + timedelta(seconds=lease_s(settings))
        for row in session.scalars(select(Delivery).where(Delivery.id.in_(ids))):
            row.state, row.lease_owner, row.lease_until = "sending", replica, until
            row.attempts += 1
            jobs.append(
                Job(
                    row.id,
                    row.attempts,
                    row.kind,
                    row.url,
                    row.body,
                    _headers(session, settings, row),
                )
            )
        return jobs, None


def _seconds_until(when: datetime | None, now: datetime) -> float | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=now.tzinfo)
    return max(0.0, (when - now).total_seconds())


def record(state: ServerState, replica: str, job: Job, outcome: Outcome, now: datetime) -> str:
    """Log one try and move its delivery on; return the verdict (see `record_many`)."""
    return record_many(state, replica, [(job, outcome)], now)[0]


def record_many(
    state: ServerState, replica: str, done: list[tuple[Job, Outcome]], now: datetime
) -> list[str]:
    """Log tries and move their deliveries on (done, retry later, or failed), in one transaction.

    Returns each verdict; "superseded" where this replica's lease ran out and another replica
    took the delivery over (that one decides).
    """
    policy = policy_of(state.settings)
    verdicts = []
    with state.write_sessions.begin() as session:
        for job, outcome in done:
            session.add(
                DeliveryAttempt(
                    delivery_id=job.delivery_id,
                    attempt=job.attempt,
                    started_at=outcome.started_at,
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status,
                    response=outcome.response[:MAX_RESPONSE_CHARS],
                    error=outcome.error,
                    replica=replica,
                )
            )
            row = session.get(Delivery, job.delivery_id, with_for_update=True)
            if row is None or row.state != "sending" or row.lease_owner != replica:
                verdicts.append("superseded")
                continue
            result = verdict(outcome.status, row.attempts, policy)
            row.last_status, row.last_error = outcome.status, outcome.error
            row.lease_owner = row.lease_until = None
            if result == "retry":
                row.state = "pending"
                row.next_attempt_at = next_attempt_at(now, row.attempts, policy)
            else:
                row.state, row.finished_at = result, now
            log = logger.info if result == "succeeded" else logger.warning
            log(
                "delivery " + result,
                extra={
                    "delivery": job.delivery_id,
                    "attempt": job.attempt,
                    "status": outcome.status,
                    "error": outcome.error,
                },
            )
            verdicts.append(result)
    return verdicts


def next_due_in(state: ServerState, now: datetime) -> float | None:
    """Seconds until a delivery is due (0: now); None when none waits. Takes no write lock."""
    with state.sessions() as session:
        pending = session.scalar(
            select(func.min(Delivery.next_attempt_at)).where(Delivery.state == "pending")
        )
        lease = session.scalar(
            select(func.min(Delivery.lease_until)).where(Delivery.state == "sending")
        )
    waits = [w for w in (_seconds_until(pending, now), _seconds_until(lease, now)) if w is not None]
    return min(waits) if waits else None


def prune(state: ServerState, now: datetime, batch: int = 1000) -> int:
    """Delete events older than the retention whose deliveries all finished; return how many.

    Their deliveries and tries go with them (foreign keys cascade). Unfinished ones stay.
    """
    cutoff = now - timedelta(days=state.settings.events_retention_days)
    unfinished = exists().where(
        Delivery.event_id == Event.id, Delivery.state.in_(("pending", "sending"))
    )
    with state.write_sessions.begin() as session:
        ids = session.scalars(
            select(Event.id).where(Event.created_at < cutoff, ~unfinished).limit(batch)
        ).all()
        if ids:
            session.execute(delete(Event).where(Event.id.in_(ids)))
    if ids:
        logger.info("events pruned", extra={"count": len(ids), "cutoff": cutoff.isoformat()})
    return len(ids)
