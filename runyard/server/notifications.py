"""Delivering run alerts to people: one channel interface, a webhook channel.

Delivery happens after the alert is committed, on a small thread pool: a slow or dead
receiver never holds a client's request, and a failure is logged, never raised.
More channels (Slack, email) implement `AlertChannel` (another issue).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Protocol

import httpx
from pydantic import BaseModel

logger = logging.getLogger(__name__)


class AlertMessage(BaseModel):
    """What every channel receives about one alert."""

    entity: str
    project: str
    run: str
    run_display_name: str
    title: str
    text: str
    level: str
    created_at: str


class AlertChannel(Protocol):
    """A way to tell people about an alert; `deliver` may block and may raise."""

    name: str

    def deliver(self, message: AlertMessage) -> None:
        """Send one alert."""
        ...


class WebhookChannel:
    """POSTs the alert as JSON to a URL, with a bounded timeout."""

    name = "webhook"

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def deliver(self, message: AlertMessage) -> None:
        """POST the alert; a non-2xx answer raises."""
        response = httpx.post(
            self.url, json={"type": "run_alert", **message.model_dump()}, timeout=self.timeout_s
        )
        response.raise_for_status()


class Notifier:
    """Hands alerts to every channel off the request thread; logs failed deliveries."""

    def __init__(self, channels: list[AlertChannel]) -> None:
        self.channels = channels
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="alert-delivery")

    def notify(self, message: AlertMessage) -> list[Future[None]]:
        """Queue delivery of `message` on each channel; return the pending deliveries."""
        return [self._pool.submit(_deliver, c, message) for c in self.channels]


def _deliver(channel: AlertChannel, message: AlertMessage) -> None:
    try:
        channel.deliver(message)
    except Exception as exc:
        logger.warning(
            "alert delivery failed",
            extra={
                "channel": channel.name,
                "run": message.run,
                "title": message.title,
                "error": f"{type(exc).__name__}: {exc}",
            },
        )
    else:
        logger.info(
            "alert delivered",
            extra={"channel": channel.name, "run": message.run, "title": message.title},
        )


@cache
def notifier_for(webhook_url: str | None, timeout_s: float) -> Notifier:
    """The process's notifier for these settings (one thread pool per configuration)."""
    channels: list[AlertChannel] = []
    if webhook_url:
        channels.append(WebhookChannel(webhook_url, timeout_s))
    return Notifier(channels)
