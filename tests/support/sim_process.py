"""Containers as local processes, for the simulated cluster's kubelet.

No container runtime runs here. When a test hands `LocalContainers` to the
`ClusterSimulator`, a pod whose first container names a `command` runs that command as a
local process group with the container's environment, resolved as kubelet would
(`value`, `valueFrom.secretKeyRef` from the cluster's Secrets, `fieldRef` to the pod's
name and namespace), on top of `base_env` (PATH, an isolated HOME for the wandb client).
Its exit code ends the pod; its output is the pod's log; an eviction stops it with SIGTERM
and, after the grace period, SIGKILL, like a node would. The image is not used.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .kube_objects import Obj

SecretLookup = Callable[[str, str], Obj | None]


class ContainerConfigError(Exception):
    """The container's environment cannot be built (kubelet's CreateContainerConfigError)."""


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    log: Path


class LocalContainers:
    """Runs pods' main containers as local process groups, keyed by pod uid."""

    def __init__(self, workdir: Path, base_env: Mapping[str, str], grace_s: float = 3.0) -> None:
        self.workdir = workdir
        self.base_env = dict(base_env)
        self.grace_s = grace_s
        self._procs: dict[str, _Process] = {}
        workdir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def wants(pod: Mapping[str, Any]) -> bool:
        """Whether the pod's first container names a command to run."""
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        return bool(containers[0].get("command"))

    def start(self, pod: Mapping[str, Any], secrets: SecretLookup) -> None:
        """Start the pod's main container; ContainerConfigError when its env cannot be built."""
        meta = pod["metadata"]
        container = pod["spec"]["containers"][0]
        env = {**self.base_env, **resolve_env(container, meta, secrets)}
        log = self.workdir / f"{meta['namespace']}-{meta['name']}-{meta['uid'][:8]}.log"
        argv = [str(a) for a in [*container["command"], *(container.get("args") or [])]]
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        self._procs[meta["uid"]] = _Process(popen, log)

    def poll(self, uid: str) -> int | None:
        """The exit code once the process ended, else None."""
        proc = self._procs.get(uid)
        return None if proc is None else proc.popen.poll()

    def log(self, uid: str) -> str:
        """What the process printed so far."""
        proc = self._procs.get(uid)
        return "" if proc is None else proc.log.read_text(errors="replace")

    def kill(self, uid: str) -> int | None:
        """SIGTERM the process group, SIGKILL after the grace period; returns the exit code."""
        proc = self._procs.get(uid)
        if proc is None:
            return None
        _signal_group(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while proc.popen.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(proc.popen.pid, signal.SIGKILL)
        return proc.popen.wait()

    def stop_all(self) -> None:
        """Kill every process still running (the test is over)."""
        for proc in self._procs.values():
            _signal_group(proc.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def resolve_env(
    container: Mapping[str, Any], meta: Mapping[str, Any], secrets: SecretLookup
) -> dict[str, str]:
    """The container's environment as kubelet builds it, or ContainerConfigError."""
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        name = var["name"]
        if "value" in var:
            env[name] = str(var["value"])
            continue
        source = var.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = secrets(meta["namespace"], ref["name"])
            if secret is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'secret "{ref["name"]}" not found')
            data = secret.get("data") or {}
            if ref["key"] in data:
                env[name] = base64.b64decode(data[ref["key"]]).decode()
            elif ref["key"] in (secret.get("stringData") or {}):
                env[name] = secret["stringData"][ref["key"]]
            elif not ref.get("optional"):
                raise ContainerConfigError(
                    f"couldn't find key {ref['key']} in Secret {meta['namespace']}/{ref['name']}"
                )
        elif "fieldRef" in source:
            path = source["fieldRef"].get("fieldPath", "")
            field = path.removeprefix("metadata.")
            env[name] = str(meta.get(field, ""))
    return env
