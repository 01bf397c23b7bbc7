"""Following one container from a thread: its log into the item's file, and its exit.

Both block on the engine for as long as the job runs, so each runs in a daemon thread of
its own with a client of its own (`local_container.py` starts them): the agent's executor
is never starved by long jobs, and an agent that stops is not held up by them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

logger = logging.getLogger(__name__)
WAIT_POLL_S = 30  # a wait() long-polls this long, then checks whether the agent stops
RETRY_S = 2.0  # the engine restarts or hiccups: try again after this pause


def follow_log(
    container_id: str, path: Path, truncate: bool, keep_stream: Callable[[Any], None]
) -> None:
    """Copy the container's log (stdout and stderr) into `path` until it ends."""
    client = docker.from_env()
    try:
        container = client.containers.get(container_id)
        stream = container.logs(stream=True, follow=True, stdout=True, stderr=True)
        keep_stream(stream)  # the runner closes it when the agent stops
        with path.open("wb" if truncate else "ab") as out:
            for chunk in stream:
                out.write(chunk)
                out.flush()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        pass  # the container went away, or the agent stops: the file has what came
    finally:
        client.close()


def wait_for_exit(
    container_id: str, stopping: threading.Event
) -> tuple[bool, dict[str, Any] | None]:
    """(True, its State) once it exited; (True, None) if it is gone; (False, None) on stop."""
    while not stopping.is_set():
        client = docker.from_env(timeout=WAIT_POLL_S + 5)
        try:
            container = client.containers.get(container_id)
            container.wait(timeout=WAIT_POLL_S)
            container.reload()
            return True, dict(container.attrs.get("State") or {})
        except docker.errors.NotFound:
            return True, None
        except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
            continue  # the long poll ran out (over a unix socket it reads as a connection error)
        except docker.errors.DockerException as exc:
            logger.warning("cannot watch container", extra={"id": container_id, "error": str(exc)})
            stopping.wait(RETRY_S)
        finally:
            client.close()
    return False, None
