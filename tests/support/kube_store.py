"""The object store behind the Kubernetes stand-in: versions, change log, garbage collection.

Part of the Kubernetes stand-in for tests (see `support.kube`), which replaces a real
kube-apiserver that cannot exist on these machines. Objects live in kmock's
`ObjectsArray` (so `emulator.objects[...]` and its history work as kmock documents), but
every write goes through `ClusterStore`, which adds what kmock lacks:

- `metadata.resourceVersion` from one counter for the whole cluster (like etcd's
  revision), `uid`, `creationTimestamp`, `generation`, `generateName`;
- a change log, so a watch from a resourceVersion sees only later changes, and a way to
  expire old versions (`expire`) so watches get `410 Gone`;
- 404/409/422 answers, optimistic concurrency on `metadata.resourceVersion`, status
  subresource semantics, finalizers and `deletionTimestamp`;
- owner-reference garbage collection: `Background`/`Foreground` deletes dependents,
  `Orphan` (the apiserver's default for batch/v1 Jobs) strips their owner reference;
- container logs recorded per pod for `pods/log`.

It is thread-safe: the HTTP handlers run on the emulator's event loop while the cluster
simulator writes from its own thread. Listeners are called on every change (keep them
cheap: set an event, schedule a callback).
"""

from __future__ import annotations

import contextlib
import copy
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import kmock

from .kube_objects import (
    KINDS,
    Kind,
    Obj,
    already_exists,
    api_error,
    apply_defaults,
    apply_patch,
    bad_request,
    check_update,
    conflict,
    not_found,
    now_rfc3339,
    validate,
)
from .kube_selectors import parse_field_selector, parse_label_selector

LOG_LIMIT = 100_000  # changes kept for watches; older versions answer 410 Gone
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's alphabet for generateName


class Expired(Exception):
    """A watch asked for changes after a resourceVersion that is no longer kept."""

    def __init__(self, rv: int, oldest: int) -> None:
        super().__init__(rv, oldest)
        self.rv, self.oldest = rv, oldest


@dataclass(frozen=True)
class Change:
    """One write: its resourceVersion, the object after it and before it (None if new)."""

    rv: int
    kind: Kind
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None

    @property
    def namespace(self) -> str | None:
        return self.obj["metadata"].get("namespace")

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])


def random_suffix(length: int = 5) -> str:
    """Random characters the way the apiserver and controllers pick them."""
    return "".join(random.choice(_SUFFIX) for _ in range(length))


class ClusterStore:
    """All objects of the fake cluster, with the apiserver's write semantics."""

    def __init__(self, objects: kmock.ObjectsArray, kinds: Iterable[Kind] = KINDS) -> None:
        self.objects = objects
        # Keys of the objects not deleted, by resource: kmock keeps deleted ones (with their
        # history), and scanning those on every list made long simulations quadratic.
        self._live: dict[Any, dict[tuple[Any, str | None, str], None]] = {}
        self.lock = threading.RLock()
        self.kinds: dict[tuple[str, str, str], Kind] = {}
        self._rv = 1000
        self._log: list[Change] = []
        self._oldest = self._rv  # watches from a version older than this get 410
        self.epoch = 0  # bumped by expire(): open watches end with 410
        self.closed = False
        self._listeners: list[Callable[[], None]] = []
        self._logs: dict[tuple[str, str], str] = {}
        for kind in kinds:
            self.declare(kind)

    # --- kinds, listeners ----------------------------------------------------------------

    def declare(self, kind: Kind) -> Kind:
        """Serve one more resource (CRDs, kinds the defaults lack)."""
        self.kinds[kind.group, kind.version, kind.plural] = kind
        return kind

    def kind(self, plural: str, group: str | None = None) -> Kind:
        """The declared kind by plural (and group where two share a plural)."""
        for kind in self.kinds.values():
            if kind.plural == plural and (group is None or kind.group == group):
                return kind
        raise KeyError(plural)

    def find(self, group: str | None, version: str | None, plural: str | None) -> Kind | None:
        return self.kinds.get((group or "", version or "", plural or ""))

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after every change; returns the function that unsubscribes."""
        with self.lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _notify(self) -> None:
        for listener in list(self._listeners):
            # A listener whose event loop is closed is gone.
            with contextlib.suppress(RuntimeError):
                listener()

    def close(self) -> None:
        """Wake every watch so it ends (the server is stopping)."""
        with self.lock:
            self.closed = True
            self._notify()

    # --- versions, log -------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.lock:
            return self._rv

    def _record(self, kind: Kind, type_: str, obj: Obj, old: Obj | None) -> Obj:
        self._log.append(Change(self._rv, kind, type_, copy.deepcopy(obj), old))
        if len(self._log) > LOG_LIMIT:
            drop = len(self._log) - LOG_LIMIT
            self._oldest = self._log[drop - 1].rv
            del self._log[:drop]
        self._notify()
        return copy.deepcopy(obj)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def changes_after(self, rv: int) -> list[Change]:
        """Changes with a resourceVersion above `rv`; Expired if some were dropped."""
        with self.lock:
            if rv < self._oldest:
                raise Expired(rv, self._oldest)
            lo, hi = 0, len(self._log)
            while lo < hi:  # the log is ordered by rv
                mid = (lo + hi) // 2
                if self._log[mid].rv <= rv:
                    lo = mid + 1
                else:
                    hi = mid
            return self._log[lo:]

    def expire(self) -> None:
        """Forget every version up to now (like an etcd compaction): watches resuming from
        an older resourceVersion get 410 Gone, and open watches end with a 410 ERROR event.
        A fresh list returns a version that is still valid."""
        with self.lock:
            self._rv += 1
            self._oldest = self._rv
            self._log.clear()
            self.epoch += 1
            self._notify()

    # --- reads ---------------------------------------------------------------------------

    def _key(self, kind: Kind, namespace: str | None, name: str) -> tuple[Any, str | None, str]:
        return (kind.resource, namespace if kind.namespaced else None, name)

    def _current(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        key = self._key(kind, namespace, name)
        if key not in self.objects:
            return None
        obj = self.objects[key]
        return None if obj.deleted else obj.raw

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        """A copy of the object, or None."""
        with self.lock:
            current = self._current(kind, namespace, name)
            return copy.deepcopy(current) if current is not None else None

    def read(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        """A copy of the object, or 404."""
        found = self.get(kind, namespace, name)
        if found is None:
            raise not_found(kind, name)
        return found

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        copies: bool = True,
    ) -> tuple[list[Obj], int]:
        """Matching objects (copies unless `copies=False`: then read-only) and the version."""
        try:
            labels = parse_label_selector(label_selector)
            fields = parse_field_selector(field_selector, kind.plural)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        with self.lock:
            items = []
            for key in self._live.get(kind.resource, {}):
                ns, obj = key[1], self.objects[key]
                if namespace is not None and ns != namespace:
                    continue
                raw = obj.last.raw
                if labels(raw) and fields(raw):
                    items.append(copy.deepcopy(raw) if copies else raw)
            return items, self._rv

    # --- writes --------------------------------------------------------------------------

    def create(self, kind: Kind, namespace: str | None, body: Obj) -> Obj:
        """Create as the apiserver does: defaults, validation, 409 on an existing name."""
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            namespace = namespace or meta.get("namespace") or "default"
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
            namespace = None
        for key in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"):
            meta.pop(key, None)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        with self.lock:
            if not meta.get("name") and meta.get("generateName"):
                while True:
                    meta["name"] = f"{meta['generateName']}{random_suffix()}"
                    if self._current(kind, namespace, meta["name"]) is None:
                        break
            if not meta.get("name"):
                raise api_error(
                    422,
                    "Invalid",
                    f"{kind.qualified_kind} is invalid: "
                    "metadata.name: Required value: name or generateName is required",
                )
            if self._current(kind, namespace, meta["name"]) is not None:
                raise already_exists(kind, meta["name"])
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            apply_defaults(kind, obj)
            validate(kind, obj)
            meta["resourceVersion"] = self._next_rv()
            key = self._key(kind, namespace, meta["name"])
            if key in self.objects:
                self.objects[key].history.append(obj)
            else:
                self.objects[key] = obj
            self._live.setdefault(key[0], {})[key] = None
            if kind.plural == "pods":
                self._logs.pop((namespace or "", meta["name"]), None)
            return self._record(kind, "ADDED", obj, None)

    def _store(self, kind: Kind, old: Obj, new: Obj) -> Obj:
        """Write a new version of an existing object (caller holds the lock)."""
        meta = new["metadata"]
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
        if new.get("spec") != old.get("spec"):
            meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            # The last finalizer went: the object goes, and the garbage collector takes its
            # dependents (Background) as after a plain delete.
            gone = self._remove(kind, old, new)
            self._collect(old["metadata"]["uid"], orphan=False)
            return gone
        meta["resourceVersion"] = self._next_rv()
        self.objects[self._key(kind, meta.get("namespace"), meta["name"])].history.append(new)
        return self._record(kind, "MODIFIED", new, old)

    def update(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        change: Callable[[Obj], Obj],
        subresource: str | None = None,
        checked: bool = True,
    ) -> Obj:
        """Apply `change(copy) -> new` with the apiserver's rules; 404, 409 Conflict, 422.

        With a `status` subresource only the status changes; without one, the status of
        kinds that have that subresource is kept. `checked=False` (controllers) skips the
        immutability checks and the subresource rules.
        """
        with self.lock:
            old = self._current(kind, namespace, name)
            if old is None:
                raise not_found(kind, name)
            new = change(copy.deepcopy(old))
            if not isinstance(new, dict):
                raise bad_request("the body of the request was in an unknown format")
            new.setdefault("metadata", {})
            wanted = new["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"].get("resourceVersion"):
                raise conflict(kind, name)
            if checked:
                if subresource == "status":
                    new = {**copy.deepcopy(old), "status": new.get("status", {})}
                elif "status" in kind.subresources:
                    new["status"] = copy.deepcopy(old.get("status", {}))
                new["apiVersion"], new["kind"] = kind.api_version, kind.kind
                check_update(kind, old, new)
            if new == old:
                return copy.deepcopy(old)  # no-op writes keep the version, as in the apiserver
            return self._store(kind, old, new)

    def replace(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        body: Obj,
        subresource: str | None = None,
    ) -> Obj:
        """PUT: the whole object (its resourceVersion, when given, must be the current)."""
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise bad_request("the name of the object does not match the name on the URL")
        return self.update(kind, namespace, name, lambda _: copy.deepcopy(body), subresource)

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str | None = None,
    ) -> Obj:
        """PATCH with JSON patch, merge patch or strategic merge patch."""
        return self.update(
            kind, namespace, name, lambda old: apply_patch(content_type, old, patch), subresource
        )

    def mutate(
        self, kind: Kind, namespace: str | None, name: str, change: Callable[[Obj], None]
    ) -> Obj | None:
        """For controllers: change a copy in place and store it; None if the object is gone."""

        def apply(obj: Obj) -> Obj:
            change(obj)  # on the current version: its resourceVersion passes the check
            return obj

        try:
            return self.update(kind, namespace, name, apply, checked=False)
        except kmock.KubernetesError as exc:
            if exc.status == 404:
                return None
            raise

    def delete(
        self, kind: Kind, namespace: str | None, name: str, propagation: str | None = None
    ) -> Obj:
        """Delete: deletionTimestamp while finalizers remain, then gone; dependents follow
        `propagation` (default Background; Orphan for batch/v1 Jobs, as the apiserver)."""
        if propagation is None:
            propagation = "Orphan" if kind.plural == "jobs" else "Background"
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise bad_request(
                f'Unsupported value: "{propagation}": supported values: '
                '"Foreground", "Background", "Orphan"'
            )
        with self.lock:
            old = self._current(kind, namespace, name)
            if old is None:
                raise not_found(kind, name)
            uid = old["metadata"]["uid"]
            if propagation == "Foreground":
                self._collect(uid, orphan=False)
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(old)
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._store(kind, old, new)
            gone = self._remove(kind, old, copy.deepcopy(old))
            self._collect(uid, orphan=propagation == "Orphan")
            return gone

    def _remove(self, kind: Kind, old: Obj, last: Obj) -> Obj:
        meta = last["metadata"]
        meta["resourceVersion"] = self._next_rv()
        key = self._key(kind, meta.get("namespace"), meta["name"])
        entry = self.objects[key]
        entry.history.append(last)
        entry.delete()
        self._live.get(key[0], {}).pop(key, None)
        if kind.plural == "pods":
            self._logs.pop((meta.get("namespace") or "", meta["name"]), None)
        return self._record(kind, "DELETED", last, old)

    def _collect(self, owner_uid: str, orphan: bool) -> None:
        """Garbage-collect (or orphan) the objects that name `owner_uid` as an owner."""
        dependents = []
        live = [key for keys in self._live.values() for key in keys]
        for resource, ns, name in live:
            obj = self.objects[resource, ns, name]
            refs = obj.last.raw.get("metadata", {}).get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                kind = self.find(resource.group, resource.version, resource.plural)
                if kind is not None:
                    dependents.append((kind, ns, name))
        for kind, ns, name in dependents:
            if orphan:

                def strip(obj: Obj) -> None:
                    refs = obj["metadata"].get("ownerReferences") or []
                    obj["metadata"]["ownerReferences"] = [
                        r for r in refs if r.get("uid") != owner_uid
                    ] or None
                    if obj["metadata"]["ownerReferences"] is None:
                        del obj["metadata"]["ownerReferences"]

                self.mutate(kind, ns, name, strip)
            else:
                with contextlib.suppress(kmock.KubernetesError):  # gone meanwhile
                    self.delete(kind, ns, name, "Background")

    # --- logs ----------------------------------------------------------------------------

    def set_log(self, namespace: str, pod: str, text: str) -> None:
        """Record what the pod's container printed (served by `pods/log`)."""
        with self.lock:
            self._logs[namespace, pod] = text

    def append_log(self, namespace: str, pod: str, text: str) -> None:
        with self.lock:
            self._logs[namespace, pod] = self._logs.get((namespace, pod), "") + text

    def get_log(self, namespace: str, pod: str) -> str | None:
        with self.lock:
            return self._logs.get((namespace, pod))
