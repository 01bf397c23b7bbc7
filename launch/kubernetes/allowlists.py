"""Pool allow-lists: the Secrets and priority classes a queue template may name (pure).

A queue template is written by whoever manages the queue, but its Jobs run in the pool's
namespace, next to Secrets that are not theirs, and a priority class can evict other
teams' jobs (`system-node-critical` even node daemons). So a pool lists what templates may
reference: `allowed_secrets` and `allowed_priority_classes` (names or `*`/`?` globs; both
empty by default, so nothing is allowed but leaving them unset). The Secrets the agent
adds itself (the API key Secret, the pool's image pull secrets) are always allowed.

The same check runs twice: the server runs it at enqueue against every live pool that
serves the queue (agents report their pool's policy when they register), and the agent
runs it again on the rendered config before it creates anything (the authoritative one:
a pool nobody heard from, or an item enqueued before a policy changed, is caught there).

References are found anywhere in the manifest, not only in pod specs: a custom workload
(JobSet, PyTorchJob, ...) may name Secrets in its own fields. A Secret reference is a
`secretName` string, or a mapping or list of mappings with a `name` under any key that
contains "secret" (`secretKeyRef`, `secretRef`, `secret`, `imagePullSecrets`,
`nodePublishSecretRef`, ...); a priority class is a `priorityClassName` or
`priorityClass` string.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .security import PodSecurityError

# A Secret or PriorityClass name (DNS-1123 subdomain), with `*` and `?` as wildcards.
NAME_GLOB = r"^[a-z0-9*?]([-a-z0-9.*?]{0,251}[a-z0-9*?])?$"
_PATTERN = re.compile(NAME_GLOB)
MAX_ENTRIES = 1000


def check_patterns(value: list[str]) -> list[str]:
    """Validate allow-list entries (names or globs); ValueError naming the bad ones."""
    bad = [entry for entry in value if not isinstance(entry, str) or not _PATTERN.match(entry)]
    if bad:
        raise ValueError(
            f"not names or patterns: {', '.join(map(repr, bad))}; use lowercase Kubernetes "
            "names (a-z, 0-9, '-', '.'), with * or ? as wildcards, e.g. team-a-*"
        )
    return value


class PoolPolicy(BaseModel):
    """What a pool lets queue templates reference; agents report it when they register."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63, description="The pool's name.")
    namespace: str = Field("default", max_length=63, description="Namespace of its Jobs.")
    allowed_secrets: list[str] = Field(
        default_factory=list,
        max_length=2 * MAX_ENTRIES,
        description="Secrets templates may reference (names or globs), including the ones "
        "the agent adds itself (API key, image pull secrets).",
    )
    allowed_priority_classes: list[str] = Field(
        default_factory=list,
        max_length=2 * MAX_ENTRIES,
        description="Priority classes templates may set (names or globs).",
    )

    @field_validator("allowed_secrets", "allowed_priority_classes")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return check_patterns(value)


def _allowed(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _named(node: Any, path: str) -> list[tuple[str, str]]:
    """(path, name) of a Secret reference: a mapping with a `name`, or a list of them."""
    if isinstance(node, dict) and isinstance(node.get("name"), str):
        return [(f"{path}.name", node["name"])]
    if isinstance(node, list):
        return [
            (f"{path}[{i}].name", entry["name"])
            for i, entry in enumerate(node)
            if isinstance(entry, dict) and isinstance(entry.get("name"), str)
        ]
    return []


def references(manifest: Any, at: str = "") -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(Secret references, priority class references) in a manifest, each as (path, name),
    in document order. Iterative: a deeply nested config cannot exhaust the stack."""
    secrets: list[tuple[str, str]] = []
    classes: list[tuple[str, str]] = []
    stack: list[tuple[str, Any, str]] = [("", manifest, at)]  # (key in its parent, node, path)
    while stack:
        key, node, path = stack.pop()
        lowered = key.lower()
        if key in ("priorityClassName", "priorityClass") and isinstance(node, str):
            if node:  # "" means unset
                classes.append((path, node))
        elif lowered == "secretname" and isinstance(node, str):
            secrets.append((path, node))
        elif "secret" in lowered:
            secrets.extend(_named(node, path))
        if isinstance(node, dict):
            children = [(str(k), v, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([("", v, f"{path}[{i}]") for i, v in enumerate(node)]))
    return secrets, classes


def _fix(field: str, camel: str) -> str:
    return (
        "remove it from the queue's config template, or have an admin add it to the pool's "
        f"spec.{camel} (AgentPool; pool.{field} in an agent config file)"
    )


def allowlist_problems(manifest: Any, policy: PoolPolicy) -> list[str]:
    """Every reference the pool does not allow, each as `path: why; fix`."""
    secrets, classes = references(manifest)
    problems = []
    for path, name in secrets:
        if not _allowed(name, policy.allowed_secrets):
            problems.append(
                f"{path}: Secret {name!r} is not allowed on pool {policy.name} (namespace "
                f"{policy.namespace}); {_fix('allowed_secrets', 'allowedSecrets')}"
            )
    for path, name in classes:
        if not _allowed(name, policy.allowed_priority_classes):
            problems.append(
                f"{path}: priority class {name!r} is not allowed on pool {policy.name}; "
                f"{_fix('allowed_priority_classes', 'allowedPriorityClasses')}"
            )
    return problems


def check_allowlists(manifest: Any, policy: PoolPolicy) -> None:
    """Raise PodSecurityError naming every Secret or priority class the pool does not allow."""
    problems = allowlist_problems(manifest, policy)
    if problems:
        raise PodSecurityError(problems)
