"""Run alerts (`run.alert(title, text, level, wait_duration)`): validate, throttle, store, notify.

The client sends W&B's `notifyScriptableRunAlert`. An alert whose title the run already
alerted within that earlier alert's `wait_duration` is dropped (W&B's throttle), so a
training loop may call `run.alert` on every step. A stored alert is handed to the
notifier once the request commits (see notifications.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from runyard.server.access import Action
from runyard.server.api.models import as_utc
from runyard.server.auth import Principal
from runyard.server.automations import firing
from runyard.server.db.models import Run, RunAlert
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.notifications import AlertMessage, Notifier, notifier_for
from runyard.server.tracking.run_reads import RunPath, read_run
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 64
MAX_TEXT_CHARS = 10_000
LEVELS = ("INFO", "WARN", "ERROR")
DEFAULT_WAIT_MS = 60_000
MAX_WAIT_MS = 366 * 24 * 3600 * 1000


class AlertInput(BaseModel):
    """W&B's `NotifyScriptableRunAlertInput`."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    entity: str | None = Field(None, alias="entityName")
    project: str = Field(alias="projectName")
    run: str = Field(alias="runName")
    title: str
    text: str
    severity: str = "INFO"
    # Milliseconds, as the client sends them.
    wait_duration_ms: int | None = Field(None, alias="waitDuration")


def check_alert(data: AlertInput) -> None:
    """Refuse an alert over the size limits or with an unknown level, naming the fix."""
    if not data.title.strip():
        raise ServiceError(ErrorCode.INVALID, "title: an alert needs a non-empty title")
    if len(data.title) > MAX_TITLE_CHARS:
        raise ServiceError(
            ErrorCode.TOO_LARGE,
            f"title: {len(data.title)} characters, over the {MAX_TITLE_CHARS}-character limit "
            "of an alert title: shorten it and put details in the text",
        )
    if len(data.text) > MAX_TEXT_CHARS:
        raise ServiceError(
            ErrorCode.TOO_LARGE,
            f"text: {len(data.text)} characters, over the {MAX_TEXT_CHARS}-character limit of "
            "an alert text: shorten it, or log the details as a file or artifact",
        )
    if data.severity not in LEVELS:
        raise ServiceError(
            ErrorCode.INVALID,
            f"severity: {data.severity!r} is not one of {', '.join(LEVELS)}",
        )
    wait = data.wait_duration_ms
    if wait is not None and not 0 <= wait <= MAX_WAIT_MS:
        raise ServiceError(
            ErrorCode.INVALID,
            f"waitDuration: {wait} ms is outside 0..{MAX_WAIT_MS} ms (one year)",
        )


def is_throttled(last: RunAlert | None, now: datetime) -> bool:
    """Whether an alert with the same title as `last` comes within `last`'s wait duration."""
    if last is None:
        return False
    created = as_utc(last.created_at)
    assert created is not None
    return now < created + timedelta(milliseconds=last.wait_duration_ms)


def send_alert(uow: UnitOfWork, principal: Principal, data: AlertInput) -> RunAlert | None:
    """Store an alert of a run the caller may write and notify; None when throttled."""
    check_alert(data)
    path = RunPath(data.entity or principal.entity_name, data.project, data.run)
    run = read_run(uow, principal, path, Action.WRITE)
    now = uow.now()
    last = uow.session.scalars(
        select(RunAlert)
        .where(RunAlert.run_id == run.id, RunAlert.title == data.title)
        .order_by(RunAlert.created_at.desc(), RunAlert.id.desc())
        .limit(1)
    ).first()
    if is_throttled(last, now):
        logger.info("alert throttled", extra={"run": run.name, "title": data.title})
        return None
    wait = data.wait_duration_ms if data.wait_duration_ms is not None else DEFAULT_WAIT_MS
    alert = RunAlert(
        run_id=run.id,
        title=data.title,
        text=data.text,
        level=data.severity,
        wait_duration_ms=wait,
        created_at=now,
    )
    uow.session.add(alert)
    uow.session.flush()
    message = AlertMessage(
        entity=run.project.entity.name,
        project=run.project.name,
        run=run.name,
        run_display_name=run.display_name or run.name,
        title=alert.title,
        text=alert.text,
        level=alert.level,
        created_at=now.isoformat(),
    )
    # Slack-compatible integrations of the entity get it through the outbox (retried, logged).
    firing.on_run_alert(uow.session, run, alert.title, alert.text, alert.level)
    notifier = notifier_for(uow.settings.alert_webhook_url, uow.settings.alert_webhook_timeout_s)
    uow.after_commit(lambda: _notify(notifier, message))
    return alert


def _notify(notifier: Notifier, message: AlertMessage) -> None:
    notifier.notify(message)


@dataclass(frozen=True)
class AlertView:
    """An alert as pages and APIs show it."""

    id: int
    title: str
    text: str
    level: str
    wait_duration_ms: int
    created_at: datetime


def alerts_of_run(uow: UnitOfWork, run: Run, limit: int = 100) -> list[AlertView]:
    """A run's alerts, newest first."""
    rows = uow.session.scalars(
        select(RunAlert)
        .where(RunAlert.run_id == run.id)
        .order_by(RunAlert.created_at.desc(), RunAlert.id.desc())
        .limit(limit)
    )
    return [
        AlertView(a.id, a.title, a.text, a.level, a.wait_duration_ms, a.created_at) for a in rows
    ]


def run_alerts(uow: UnitOfWork, principal: Principal, path: RunPath) -> list[AlertView]:
    """The alerts of a run the caller may read, newest first."""
    return alerts_of_run(uow, read_run(uow, principal, path))
