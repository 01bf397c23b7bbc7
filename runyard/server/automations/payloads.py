"""Webhook payload templates and Slack messages (pure functions, no I/O).

A webhook action's `requestPayload` is a JSON object whose strings may use W&B's payload
variables, `${event_type}`, `${artifact_version_string}` ...; they are checked against the
variables the automation's event provides when it is saved, and filled in when it fires.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from runyard.server.automations.filters import ARTIFACT_EVENTS, METRIC_EVENTS

VARIABLE = re.compile(r"\$\{([^}]*)\}")

COMMON_VARIABLES = ("event_type", "event_author", "project_name", "entity_name")
ARTIFACT_VARIABLES = (
    "artifact_version",
    "artifact_version_string",
    "artifact_collection_name",
    "artifact_alias",
)
RUN_VARIABLES = ("run_id", "run_name", "run_state")
METRIC_VARIABLES = ("metric_name", "metric_value")
SEVERITY_COLORS = {"INFO": "#2f80ed", "WARN": "#f2c94c", "ERROR": "#eb5757"}


def variables_for(event_type: str) -> tuple[str, ...]:
    """The payload variables an event of this type provides."""
    if event_type in ARTIFACT_EVENTS:
        return (*COMMON_VARIABLES, *ARTIFACT_VARIABLES)
    if event_type in METRIC_EVENTS:
        return (*COMMON_VARIABLES, *RUN_VARIABLES, *METRIC_VARIABLES)
    return (*COMMON_VARIABLES, *RUN_VARIABLES)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield str(key)
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def used_variables(payload: Any) -> list[str]:
    """The `${...}` names a payload uses, in order of first use."""
    seen: dict[str, None] = {}
    for text in _strings(payload):
        for name in VARIABLE.findall(text):
            seen.setdefault(name, None)
    return list(seen)


def unknown_variables(payload: Any, event_type: str) -> list[str]:
    """The variables a payload uses that an event of this type does not provide."""
    known = set(variables_for(event_type))
    return [name for name in used_variables(payload) if name not in known]


def _fill(text: str, variables: Mapping[str, Any]) -> str:
    return VARIABLE.sub(lambda m: _as_text(variables.get(m.group(1), "")), text)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


def render(payload: Any, variables: Mapping[str, Any]) -> Any:
    """The payload with every `${name}` in its keys and strings replaced by its value."""
    if isinstance(payload, str):
        return _fill(payload, variables)
    if isinstance(payload, Mapping):
        return {_fill(str(k), variables): render(v, variables) for k, v in payload.items()}
    if isinstance(payload, list):
        return [render(v, variables) for v in payload]
    return payload


def default_payload(variables: Mapping[str, Any]) -> dict[str, Any]:
    """What a webhook without a payload template receives: every variable of the event."""
    return dict(variables)


def slack_message(
    title: str, text: str, severity: str, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """A Slack incoming-webhook message (`text` plus one coloured attachment)."""
    title = _fill(title, variables) if title else str(variables.get("event_type", "W&B event"))
    text = _fill(text, variables)
    facts = [
        {"title": name, "value": _as_text(variables[name]), "short": True}
        for name in ("entity_name", "project_name", "artifact_version_string", "run_name")
        if variables.get(name)
    ]
    return {
        "text": f"*{title}*" + (f"\n{text}" if text else ""),
        "attachments": [
            {"color": SEVERITY_COLORS.get(severity, SEVERITY_COLORS["INFO"]), "fields": facts}
        ],
    }
