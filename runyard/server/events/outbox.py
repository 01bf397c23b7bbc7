"""The outbox: an event and its deliveries are written in the transaction of the change.

Nothing is sent here. The rows commit (or roll back) with the change that caused them,
so a delivery exists exactly when its change does; the dispatcher sends it afterwards.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from runyard.server.clock import utcnow
from runyard.server.db.automation_models import Delivery, Event
from runyard.server.events.wakeup import MARK

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where one delivery of an event goes, with its rendered body."""

    kind: str  # "webhook" or "slack"
    url: str
    body: Any
    automation_id: int | None = None
    integration_id: int | None = None


def write_event(
    session: Session,
    event_type: str,
    *,
    entity_id: int | None,
    project_id: int | None,
    variables: Mapping[str, Any],
    targets: Sequence[Target],
    now: datetime | None = None,
) -> Event:
    """Add an event and one pending delivery per target to the session's transaction."""
    now = now or utcnow()
    row = Event(
        event_type=event_type,
        entity_id=entity_id,
        project_id=project_id,
        variables=dict(variables),
        created_at=now,
    )
    session.add(row)
    session.flush()
    for target in targets:
        session.add(
            Delivery(
                event_id=row.id,
                automation_id=target.automation_id,
                integration_id=target.integration_id,
                project_id=project_id,
                kind=target.kind,
                url=target.url,
                body=json.dumps(target.body, separators=(",", ":"), default=str),
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    if targets:
        session.flush()
        session.info[MARK] = True
    logger.info(
        "event written",
        extra={"event_type": event_type, "event_id": row.id, "deliveries": len(targets)},
    )
    return row
