"""The app factory each worker process of `runyard server --workers N` builds its app with.

The parent process migrated and bootstrapped already; a worker reads its settings from the
RUNYARD_* environment the parent exported, opens its own state and runs its own bus.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from runyard import log_setup
from runyard.server.app import create_app
from runyard.server.metrics import MULTIPROC_ENV
from runyard.server.settings import ServerSettings
from runyard.server.state import open_state


def app_from_environment() -> FastAPI:
    """A server app for one worker process."""
    settings = ServerSettings()  # type: ignore[call-arg]  # fields come from RUNYARD_*
    log_setup.configure(settings.log_level)
    return create_app(open_state(settings))


@contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh directory the worker processes started inside this block count metrics in.

    Private to this server (never the data directory, which replicas may share), so /metrics
    sums this server's workers only; removed when the server stops, as counters start from
    zero at each start in one process too.
    """
    path = tempfile.mkdtemp(prefix="runyard-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = path  # the workers inherit it and count in files there
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(path, ignore_errors=True)
