"""One list-then-watch of one kind in one namespace, kept alive in a thread.

It resumes from the last resourceVersion it saw; when the server says that version is
gone (410), it lists again and reports objects that vanished meanwhile as DELETED, so
the consumer's view never drifts. Events reach the consumer on its asyncio loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger(__name__)
Handler = Callable[[str, dict[str, Any]], None]
WATCH_TIMEOUT_S = 60  # the server ends a watch after this; we resume from the version


class ResourceWatch:
    """List and watch objects (`list_fn(namespace, ...)`) matching a label selector."""

    def __init__(
        self,
        list_fn: Callable[..., Any],
        namespace: str,
        label_selector: str,
        handler: Handler,
        loop: asyncio.AbstractEventLoop,
        name: str,
    ) -> None:
        self._list = list_fn
        self.namespace = namespace
        self.selector = label_selector
        self._handler = handler
        self._loop = loop
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._known: set[str] = set()
        self.relists = 0
        self.synced = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        """Start listing and watching in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop at the next event or timeout."""
        self._stopped.set()
        if self._watch is not None:
            self._watch.stop()

    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        self._loop.call_soon_threadsafe(self._handler, kind, obj)

    def _relist(self) -> str:
        response = self._list(self.namespace, label_selector=self.selector, _preload_content=False)
        listed = json.loads(response.data)
        names = set()
        for obj in listed.get("items") or []:
            name = obj["metadata"]["name"]
            names.add(name)
            self._emit("ADDED", obj)
        for gone in self._known - names:
            self._emit("DELETED", {"metadata": {"name": gone, "namespace": self.namespace}})
        self._known = names
        self.relists += 1
        self.synced.set()
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")

    def _run(self) -> None:
        version: str | None = None
        while not self._stopped.is_set():
            try:
                if version is None:
                    version = self._relist()
                self._watch = watch.Watch()
                for event in self._watch.stream(
                    self._list,
                    self.namespace,
                    label_selector=self.selector,
                    resource_version=version or None,
                    timeout_seconds=WATCH_TIMEOUT_S,
                ):
                    if self._stopped.is_set():
                        break
                    kind, obj = event["type"], event.get("raw_object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            version = None  # too old: list again
                            break
                        logger.warning("watch error", extra={"object": obj})
                        continue
                    name = obj["metadata"]["name"]
                    if kind == "DELETED":
                        self._known.discard(name)
                    else:
                        self._known.add(name)
                    version = obj["metadata"].get("resourceVersion") or version
                    self._emit(kind, obj)
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                logger.warning("watch failed", extra={"status": exc.status, "reason": exc.reason})
                self._stopped.wait(1.0)
            except Exception as exc:  # the connection dropped: resume from the version
                if self._stopped.is_set():
                    break
                logger.warning("watch interrupted", extra={"error": str(exc)})
                self._stopped.wait(1.0)
