"""The app factory each worker process of `runyard server --workers N` builds its app with.

The parent process migrated and bootstrapped already; a worker reads its settings from the
RUNYARD_* environment the parent exported, opens its own state and runs its own bus.
"""

from __future__ import annotations

from fastapi import FastAPI

from runyard import log_setup
from runyard.server.app import create_app
from runyard.server.settings import ServerSettings
from runyard.server.state import open_state


def app_from_environment() -> FastAPI:
    """A server app for one worker process."""
    settings = ServerSettings()  # type: ignore[call-arg]  # fields come from RUNYARD_*
    log_setup.configure(settings.log_level)
    return create_app(open_state(settings))
