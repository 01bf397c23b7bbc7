"""Label and field selectors as a real kube-apiserver parses and applies them.

Part of the Kubernetes stand-in for tests (see `support.kube`): kmock's emulator ignores
`labelSelector` and `fieldSelector`, so lists and watches would return everything. This
module gives them the apiserver's meaning: label selectors with `=`, `==`, `!=`, `in`,
`notin`, `key`, `!key`, `>` and `<`; field selectors with `=`, `==` and `!=` over the
fields each resource really supports (anything else is refused with 400, as the real
server does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")

# Fields each resource serves in field selectors (the apiserver refuses the others).
_FIELDS: dict[str, frozenset[str]] = {
    "pods": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "nodes": frozenset({"spec.unschedulable"}),
    "jobs": frozenset({"status.successful"}),
    "events": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "namespaces": frozenset({"status.phase"}),
    "secrets": frozenset({"type"}),
}
_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


class SelectorError(ValueError):
    """A selector the apiserver would refuse with 400 Bad Request."""


Matcher = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # in, notin, exists, !exists, gt, lt
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if not present:
            return False
        try:
            number = int(str(value))
        except ValueError:
            return False
        bound = int(next(iter(self.values)))
        return number > bound if self.op == "gt" else number < bound


def _split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parse_requirement(text: str) -> _Requirement:
    if found := _SET_RE.match(text):
        key, op, raw = found.groups()
        values = [v.strip() for v in raw.split(",")]
        if not all(_VALUE_RE.match(v) for v in values):
            raise SelectorError(f"unable to parse requirement: invalid value in {text.strip()!r}")
        return _Requirement(key, op, frozenset(values))
    if found := _CMP_RE.match(text):
        key, op, value = found.groups()
        if op in ("=", "=="):
            return _Requirement(key, "in", frozenset({value}))
        if op == "!=":
            return _Requirement(key, "notin", frozenset({value}))
        if not value.lstrip("-").isdigit():
            raise SelectorError(f"unable to parse requirement: for {op!r}, {value!r} is no integer")
        return _Requirement(key, "gt" if op == ">" else "lt", frozenset({value}))
    if found := _EXISTS_RE.match(text):
        bang, key = found.groups()
        return _Requirement(key, "!exists" if bang else "exists")
    raise SelectorError(f"unable to parse requirement: {text.strip()!r}")


def parse_label_selector(selector: str | None) -> Matcher:
    """A predicate over an object's `metadata.labels`; raises SelectorError when malformed."""
    if not selector or not selector.strip():
        return lambda obj: True
    requirements = [_parse_requirement(part) for part in _split_top_level(selector)]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in requirements)

    return matches


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):  # e.g. events' `source`: the component
        return str(value.get("component") or "")
    return str(value)


def parse_field_selector(selector: str | None, plural: str) -> Matcher:
    """A predicate for `fieldSelector`, restricted to the fields `plural` serves."""
    if not selector or not selector.strip():
        return lambda obj: True
    allowed = _COMMON_FIELDS | _FIELDS.get(plural, frozenset())
    terms: list[tuple[str, bool, str]] = []
    for part in selector.split(","):
        found = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not found:
            raise SelectorError(f"invalid selector: {part!r}; can't understand it")
        field, op, value = found.groups()
        if field not in allowed:
            raise SelectorError(f'field label not supported: "{field}"')
        terms.append((field, op != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field_value(obj, f) == v) is equal for f, equal, v in terms)

    return matches
