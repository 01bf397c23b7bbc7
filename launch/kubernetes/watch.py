"""One list-then-watch of one kind in one namespace (or cluster-wide), kept alive in a thread.

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
    """List and watch objects matching label and field selectors: `list_fn(namespace, ...)`,
    or `list_fn(...)` for cluster-wide lists when `namespace` is None."""

    def __init__(
        self,
        list_fn: Callable[..., Any],
        namespace: str | None,
        label_selector: str | None,
        handler: Handler,
        loop: asyncio.AbstractEventLoop,
        name: str,
        field_selector: str | None = None,
    ) -> None:
        self._list_fn = list_fn
        self.namespace = namespace
        self.selector = label_selector or None
        self.field_selector = field_selector
        self._handler = handler
        self._loop = loop
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._known: set[tuple[str, str]] = set()
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

    def _list(self, **kwargs: Any) -> Any:
        if self.field_selector:
            kwargs["field_selector"] = self.field_selector
        if self.selector:
            kwargs["label_selector"] = self.selector
        if self.namespace is None:
            return self._list_fn(**kwargs)
        return self._list_fn(self.namespace, **kwargs)

    @staticmethod
    def _key(obj: dict[str, Any]) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return meta.get("namespace") or "", meta["name"]

    def _emit(self, kind: str, obj: dict[str, Any]) -> None:
        self._loop.call_soon_threadsafe(self._handler, kind, obj)

    def _relist(self) -> str:
        response = self._list(_preload_content=False)
        listed = json.loads(response.data)
        names = set()
        for obj in listed.get("items") or []:
            names.add(self._key(obj))
            self._emit("ADDED", obj)
        for namespace, gone in self._known - names:
            self._emit("DELETED", {"metadata": {"name": gone, "namespace": namespace}})
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
                    key = self._key(obj)
                    if kind == "DELETED":
                        self._known.discard(key)
                    else:
                        self._known.add(key)
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
