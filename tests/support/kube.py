"""A Kubernetes API server for tests: kmock's emulator with the gaps a real client hits filled.

No real kube-apiserver can run on these machines, so tests talk to this stand-in through the
official `kubernetes` client, unchanged: `FakeKubernetes` runs `kmock.KubernetesEmulator`
on its own thread and event loop, writes a kubeconfig that points at it, and hands out
`kubernetes.client.ApiClient`s. The emulator serves real resource requests itself
(`KubeEmulator._serve`), on top of `ClusterStore` (support.kube_store), because kmock 0.8:

- ignores `labelSelector`/`fieldSelector` (here they filter lists and watches);
- sets no `resourceVersion`, `uid`, `creationTimestamp`, nor `kind`/`resourceVersion` on
  lists (here as the apiserver does: one cluster-wide version counter);
- replays every object to a watch that asks for changes after a resourceVersion, and
  never ends a watch at `timeoutSeconds` (here: only later changes, 410 Gone for expired
  versions, `fake.expire_watches()` to force one, the timeout honoured);
- answers 409 with reason `Object Already Exists` and 404 with `Object Not Found` (here the
  apiserver's `AlreadyExists`/`NotFound` with its messages), lacks PUT, `generateName`,
  `pods/log`, status-subresource rules, strategic-merge patches and cascading deletion.

kmock's own machinery stays in use: its HTTP handler and request parsing, API discovery,
errors as `Status` objects, `emulator.objects[...]` with history, and its DSL, which
still takes precedence over the emulation, e.g. to inject a fault:
`fake.emulator["post", kmock.resource("batch/v1/jobs")] << 500`.

Not simulated: pagination (`limit`/`continue` return everything at once), `follow` on logs,
server-side apply, admission webhooks, RBAC, authentication (any token is accepted),
graceful pod termination (a deleted pod is gone at once) and field managers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp.test_utils
import attrs
import kmock
import kubernetes
from kubernetes.client import ApiClient

from .kube_objects import Kind, Obj, bad_request, expired
from .kube_selectors import SelectorError, parse_field_selector, parse_label_selector
from .kube_store import Change, ClusterStore, Expired

_TRUE = ("true", "True", "1")
REQUEST_HISTORY = 1000  # requests kmock keeps for its DSL views (assertions, reactions)
_JSON = {"Content-Type": "application/json"}
_TEXT = {"Content-Type": "text/plain"}


def _matches_filter(request: kmock.Request) -> bool:
    resource = request.resource
    return resource is not None and bool(resource.plural) and bool(resource.version)


@attrs.define(kw_only=True)
class KubeEmulator(kmock.KubernetesEmulator):
    """kmock's emulator whose resource requests are served by a `ClusterStore`."""

    store: ClusterStore = attrs.field(init=False)
    forced_expiries: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.store = ClusterStore(self._objects)
        for kind in self.store.kinds.values():
            self._describe(kind)
        # Above kmock's own fallbacks (a sub-priority of the fallback), below any DSL reaction.
        (self.fallback**1)[_matches_filter] << self._serve

    def _describe(self, kind: Kind) -> None:
        self.resources[kind.resource] = kmock.ResourceInfo(
            kind=kind.kind,
            singular=kind.kind.lower(),
            namespaced=kind.namespaced,
            verbs={"create", "delete", "get", "list", "patch", "update", "watch"},
            subresources=set(kind.subresources),
        )

    def declare(self, kind: Kind) -> Kind:
        """Serve one more resource (a CRD, say) and list it in API discovery."""
        self.store.declare(kind)
        self._describe(kind)
        return kind

    async def _handle(self, request: kmock.Request) -> Any:
        # kmock keeps every request, and matching one to a reaction scans them all: a long
        # simulation (thousands of Jobs) slowed down quadratically. Keep the recent ones.
        for seen in (self._requests, *(getattr(p, "_requests", []) for p in self._payloads)):
            if len(seen) > REQUEST_HISTORY:
                del seen[: len(seen) - REQUEST_HISTORY]
        # Skip KubernetesEmulator._handle: it writes kmock's own way before dispatching.
        return await super(kmock.KubernetesEmulator, self)._handle(request)

    def _get_resources(self) -> list[kmock.resource]:
        with self.store.lock:  # the simulator thread may be adding objects meanwhile
            return super()._get_resources()

    # --- dispatch --------------------------------------------------------------------------

    def _serve(self, request: kmock.Request) -> kmock.Response:
        # kmock copies a returned Response's status and headers onto the reaction itself,
        # so they stick to later answers: every answer sets both explicitly.
        answer = self._answer(request)
        if isinstance(answer, kmock.Response):
            return answer
        return kmock.Response(status=200, headers=_JSON, payload=answer)

    def _answer(self, request: kmock.Request) -> Any:
        resource = request.resource
        assert resource is not None
        kind = self.store.find(resource.group, resource.version, resource.plural)
        if kind is None or (request.namespace is not None and not kind.namespaced):
            raise kmock.KubernetesError(
                status=404,
                reason="NotFound",
                message="the server could not find the requested resource",
                details={},
            )
        ns, name, sub = request.namespace, request.name, request.subresource
        method = str(request.method.value).upper()
        params = request.params
        if sub is not None and sub not in kind.subresources:
            raise kmock.KubernetesError(
                status=404,
                reason="NotFound",
                message="the server could not find the requested resource",
                details={},
            )
        if method == "GET" and params.get("watch") in _TRUE:
            if name is not None:
                field = params.get("fieldSelector")
                params = {
                    **params,
                    "fieldSelector": f"metadata.name={name}" + (f",{field}" if field else ""),
                }
            watch = self._watch(request, kind, ns, params)
            return kmock.Response(status=200, headers=_JSON, payload=watch)
        if name is None:
            if method == "GET":
                return self._list(kind, ns, params)
            if method == "POST":
                created = self.store.create(kind, ns, self._body(request))
                return kmock.Response(status=201, headers=_JSON, payload=created)
            if method == "DELETE":
                items, _ = self.store.list(
                    kind, ns, params.get("labelSelector"), params.get("fieldSelector")
                )
                for item in items:
                    self.store.delete(
                        kind, ns, item["metadata"]["name"], self._propagation(request)
                    )
                return {
                    "kind": f"{kind.kind}List",
                    "apiVersion": kind.api_version,
                    "metadata": {},
                    "items": items,
                }
        else:
            if method == "GET" and sub == "log":
                return self._log(kind, ns, name, params)
            if method == "GET":
                return self.store.read(kind, ns, name)
            if method == "PUT":
                return self.store.replace(kind, ns, name, self._body(request), sub)
            if method == "PATCH":
                headers = {k.lower(): v for k, v in request.headers.items()}
                content_type = headers.get("content-type", "")
                return self.store.patch(kind, ns, name, self._body(request), content_type, sub)
            if method == "DELETE" and sub is None:
                gone = self.store.delete(kind, ns, name, self._propagation(request))
                if kind.plural == "pods" or gone["metadata"].get("deletionTimestamp"):
                    return gone
                return {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": kind.group,
                        "kind": kind.plural,
                        "uid": gone["metadata"]["uid"],
                    },
                }
        raise kmock.KubernetesError(
            status=405,
            reason="MethodNotAllowed",
            message=f"the server does not allow this method on the requested resource ({method})",
            details={},
        )

    @staticmethod
    def _body(request: kmock.Request) -> Any:
        if not request.body:
            return None
        try:
            return json.loads(request.body)
        except ValueError as exc:
            raise bad_request(f"the body of the request was in an unknown format: {exc}") from exc

    def _propagation(self, request: kmock.Request) -> str | None:
        body = self._body(request) or {}
        policy = request.params.get("propagationPolicy") or body.get("propagationPolicy")
        if policy is None and "orphanDependents" in body:
            policy = "Orphan" if body["orphanDependents"] else "Background"
        if policy is None and "orphanDependents" in request.params:
            policy = "Orphan" if request.params["orphanDependents"] in _TRUE else "Background"
        return policy

    def _list(self, kind: Kind, ns: str | None, params: Any) -> Obj:
        items, rv = self.store.list(
            kind, ns, params.get("labelSelector"), params.get("fieldSelector")
        )
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }

    def _log(self, kind: Kind, ns: str | None, name: str, params: Any) -> Any:
        pod = self.store.read(kind, ns, name)
        text = self.store.get_log(ns or "", name)
        if text is None:
            containers = [c["name"] for c in pod["spec"].get("containers") or []]
            wanted = params.get("container") or (containers[0] if containers else "")
            statuses = {
                s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []
            }
            waiting = ((statuses.get(wanted) or {}).get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason") or "ContainerCreating"
            raise bad_request(f'container "{wanted}" in pod "{name}" is waiting to start: {reason}')
        if params.get("tailLines") is not None:
            lines = text.splitlines(keepends=True)
            tail = int(params["tailLines"])
            text = "".join(lines[-tail:]) if tail > 0 else ""
        if params.get("limitBytes") is not None:
            text = text.encode()[: int(params["limitBytes"])].decode(errors="ignore")
        return kmock.Response(status=200, headers=_TEXT, payload=text.encode())

    # --- watch ---------------------------------------------------------------------------

    async def _watch(
        self, request: kmock.Request, kind: Kind, ns: str | None, params: Any
    ) -> AsyncIterator[Any]:
        try:
            labels = parse_label_selector(params.get("labelSelector"))
            fields = parse_field_selector(params.get("fieldSelector"), kind.plural)
        except SelectorError as exc:
            raise bad_request(str(exc)) from exc
        timeout = params.get("timeoutSeconds")
        deadline = time.monotonic() + float(timeout) if timeout else None
        bookmarks = params.get("allowWatchBookmarks") in _TRUE

        def matches(obj: Obj | None) -> bool:
            if obj is None:
                return False
            if ns is not None and obj["metadata"].get("namespace") != ns:
                return False
            return labels(obj) and fields(obj)

        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        unsubscribe = self.store.subscribe(lambda: loop.call_soon_threadsafe(wake.set))
        try:
            yield b""  # send the headers now, as the apiserver does
            store = self.store
            requested = params.get("resourceVersion")
            with store.lock:
                epoch = store.epoch
                if requested in (None, "", "0"):
                    items, rv = store.list(
                        kind, ns, params.get("labelSelector"), params.get("fieldSelector")
                    )
                    initial = [{"type": "ADDED", "object": item} for item in items]
                else:
                    initial, rv = [], int(requested)
                forced = self.forced_expiries > 0 and requested not in (None, "", "0")
                if forced:
                    self.forced_expiries -= 1
            if forced:
                yield {"type": "ERROR", "object": expired(rv, store.resource_version)}
                return
            for event in initial:
                yield event
            raw = request._raw_request
            while True:
                wake.clear()
                try:
                    changes = store.changes_after(rv)
                except Expired as exc:
                    yield {"type": "ERROR", "object": expired(exc.rv, exc.oldest)}
                    return
                for change in changes:
                    rv = change.rv
                    if change.kind == kind and (event := self._event(change, matches)):
                        yield event
                if store.epoch != epoch:
                    yield {"type": "ERROR", "object": expired(rv, store.resource_version)}
                    return
                remaining = None if deadline is None else deadline - time.monotonic()
                if store.closed or (remaining is not None and remaining <= 0):
                    break
                if raw is not None and (raw.transport is None or raw.transport.is_closing()):
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), min(remaining or 0.5, 0.5))
            if bookmarks:
                meta = {"resourceVersion": str(rv)}
                yield {
                    "type": "BOOKMARK",
                    "object": {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta},
                }
        finally:
            unsubscribe()

    @staticmethod
    def _event(change: Change, matches: Any) -> dict[str, Any] | None:
        """The event a selector-filtered watch sees: objects entering or leaving the
        selection come as ADDED or DELETED, as from the apiserver's watch cache."""
        now, before = matches(change.obj), matches(change.old)
        if change.type == "DELETED":
            return {"type": "DELETED", "object": change.obj} if before else None
        if change.type == "ADDED":
            return {"type": "ADDED", "object": change.obj} if now else None
        if now and before:
            return {"type": "MODIFIED", "object": change.obj}
        if now:
            return {"type": "ADDED", "object": change.obj}
        if before:
            return {"type": "DELETED", "object": change.obj}
        return None


class FakeKubernetes:
    """A running fake cluster API: `with FakeKubernetes() as fake: fake.api_client()`."""

    def __init__(
        self,
        directory: Path | None = None,
        namespaces: tuple[str, ...] = ("default",),
        host: str = "127.0.0.1",
    ) -> None:
        """`host`: the address to listen on (e.g. a Docker network's gateway, for containers)."""
        self.emulator = KubeEmulator()
        self._host = host
        self.store = self.emulator.store
        self._namespaces = namespaces
        self._own_dir = directory is None
        self._dir = Path(tempfile.mkdtemp(prefix="fake-kube-")) if directory is None else directory
        self.kubeconfig_path = self._dir / "kubeconfig"
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[ApiClient] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the API server thread and write the kubeconfig."""
        self._thread = threading.Thread(target=self._run, name="fake-kubernetes", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the fake Kubernetes API did not start within 15 s")
        if self._failure is not None:
            raise RuntimeError("the fake Kubernetes API failed to start") from self._failure
        self._write_kubeconfig()
        namespace = self.store.kind("namespaces")
        for name in self._namespaces:
            self.store.create(namespace, None, {"metadata": {"name": name}})
        return self

    def stop(self) -> None:
        """End open watches, stop the server, close the clients handed out."""
        for api in self._clients:
            with contextlib.suppress(Exception):
                api.close()
        self._clients.clear()
        self.store.close()
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(15)
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start() when it happens early
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with self.emulator:
            server = aiohttp.test_utils.RawTestServer(self.emulator, host=self._host, port=0)
            await server.start_server()
            self.url = str(server.make_url("")).rstrip("/")
            self._ready.set()
            try:
                await self._stopping.wait()
            finally:
                self.store.close()
                await server.close()

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": "default"},
                }
            ],
            "current-context": "fake",
        }
        self.kubeconfig_path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML

    # --- for tests -----------------------------------------------------------------------

    def api_client(self) -> ApiClient:
        """A new client of the official `kubernetes` package, built from the kubeconfig."""
        api = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig_path))
        self._clients.append(api)
        return api

    @contextlib.contextmanager
    def as_default_kubeconfig(self) -> Iterator[Path]:
        """Make `kubernetes.config.load_kube_config()` (no arguments) load this cluster."""
        module = kubernetes.config.kube_config
        previous = module.KUBE_CONFIG_DEFAULT_LOCATION
        module.KUBE_CONFIG_DEFAULT_LOCATION = str(self.kubeconfig_path)
        try:
            yield self.kubeconfig_path
        finally:
            module.KUBE_CONFIG_DEFAULT_LOCATION = previous

    def expire_watches(self, next_watches: int = 0) -> None:
        """Make resourceVersions so far too old: open watches end with a 410 ERROR event
        and watches resuming from an older version get one (the client raises
        ApiException(410) or relists). `next_watches=N` also answers the next N watches
        that name any resourceVersion with 410, however fresh."""
        with self.store.lock:
            self.emulator.forced_expiries += next_watches
        self.store.expire()

    def declare(
        self, group: str, version: str, plural: str, kind: str, namespaced: bool = True
    ) -> Kind:
        """Serve a resource the defaults lack (CRDs): `declare("runyard.dev", "v1alpha1", ...)`."""
        return self.emulator.declare(Kind(group, version, plural, kind, namespaced))

    def kind(self, plural: str, group: str | None = None) -> Kind:
        """A served kind by its plural: `fake.kind("jobs")`."""
        return self.store.kind(plural, group)

    def get(self, plural: str, namespace: str | None, name: str) -> Obj | None:
        """The stored object (a copy), bypassing HTTP; None when absent."""
        return self.store.get(self.kind(plural), namespace, name)

    def list(
        self, plural: str, namespace: str | None = None, label_selector: str | None = None
    ) -> list[Obj]:
        """Stored objects (copies), bypassing HTTP."""
        return self.store.list(self.kind(plural), namespace, label_selector)[0]
