"""Turning changes into events: which automations an event triggers, and their deliveries.

Called by the tracking services inside the transaction of the change (artifact commits, alias
moves, file_stream posts, run state changes). Each call costs one indexed query for the
automations of the event's type in its scope; an event that no automation takes is not stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from runyard.server.automations import payloads
from runyard.server.automations.filters import (
    METRIC_EVENTS,
    FilterError,
    ParsedFilter,
    metric_fires,
    mongo_matches,
    parse_filter,
    state_fires,
)
from runyard.server.db.automation_models import Automation, Integration
from runyard.server.db.models import Artifact, ArtifactCollection, Project, Run
from runyard.server.events.outbox import Target, write_event
from runyard.server.tracking import metric_chunks
from runyard.server.tracking.ids import encode_id
from runyard.server.unit_of_work import ACTOR_KEY

logger = logging.getLogger(__name__)

ACTOR = ACTOR_KEY


@lru_cache(maxsize=1024)
def _parsed(automation_id: int, version: str, event_type: str, text: str) -> ParsedFilter | None:
    try:
        return parse_filter(event_type, text)
    except FilterError:
        logger.warning("automation filter unreadable", extra={"automation": automation_id})
        return None


def parsed_filter(automation: Automation) -> ParsedFilter | None:
    """The automation's filter, parsed once per version of it."""
    return _parsed(
        automation.id,
        str(automation.updated_at),
        automation.event_type,
        automation.event_filter,
    )


def targets_for(automation: Automation, variables: Mapping[str, Any]) -> list[Target]:
    """The deliveries an automation's action makes for an event (none for NO_OP)."""
    integration = automation.integration
    config = automation.action_config or {}
    if integration is None or automation.action_type not in ("GENERIC_WEBHOOK", "NOTIFICATION"):
        return []
    if automation.action_type == "GENERIC_WEBHOOK":
        template = config.get("payload")
        body = (
            payloads.render(template, variables)
            if template is not None
            else payloads.default_payload(variables)
        )
        kind = "webhook"
    else:
        body = payloads.slack_message(
            config.get("title") or "",
            config.get("message") or "",
            config.get("severity") or "INFO",
            variables,
        )
        kind = "slack"
    return [Target(kind, integration.url, body, automation.id, integration.id)]


def actor(session: Session, fallback: str = "") -> str:
    """Who made the change: the request's caller when the adapter said so, else `fallback`."""
    return str(session.info.get(ACTOR) or fallback)


def _emit(
    session: Session,
    event_type: str,
    project: Project,
    variables: dict[str, Any],
    automations: Iterable[Automation],
) -> int:
    targets = [t for a in automations for t in targets_for(a, variables)]
    if not targets:
        return 0
    write_event(
        session,
        event_type,
        entity_id=project.entity_id,
        project_id=project.id,
        variables=variables,
        targets=targets,
    )
    return len(targets)


# ---- artifacts ------------------------------------------------------------------------------


def _artifact_automations(
    session: Session, event_type: str, collection: ArtifactCollection
) -> list[Automation]:
    return list(
        session.scalars(
            select(Automation).where(
                Automation.event_type == event_type,
                Automation.enabled.is_(True),
                or_(
                    Automation.collection_id == collection.id,
                    and_(
                        Automation.scope_type == "PROJECT",
                        Automation.project_id == collection.project_id,
                    ),
                ),
            )
        )
    )


def artifact_variables(
    event_type: str,
    author: str,
    collection: ArtifactCollection,
    artifact: Artifact,
    alias: str | None,
) -> dict[str, Any]:
    """The payload variables of an artifact event."""
    project = collection.project
    selector = alias or f"v{artifact.version_index}"
    return {
        "event_type": event_type,
        "event_author": author,
        "artifact_version": f"wandb-artifact://_id/{encode_id('Artifact', artifact.id)}",
        "artifact_version_string": (
            f"{project.entity.name}/{project.name}/{collection.name}:{selector}"
        ),
        "artifact_collection_name": collection.name,
        "artifact_alias": alias or "",
        "project_name": project.name,
        "entity_name": project.entity.name,
    }


def _author_of(session: Session, artifact: Artifact) -> str:
    if session.info.get(ACTOR):
        return str(session.info[ACTOR])
    run = session.get(Run, artifact.created_by_run_id) if artifact.created_by_run_id else None
    return run.user.username if run is not None and run.user is not None else ""


def on_artifact_event(
    session: Session,
    event_type: str,
    collection: ArtifactCollection,
    artifact: Artifact,
    *,
    alias: str | None = None,
    aliases: Sequence[str] = (),
) -> int:
    """A version was created (CREATE_ARTIFACT) or got an alias (ADD_ARTIFACT_ALIAS)."""
    automations = _artifact_automations(session, event_type, collection)
    if not automations:
        return 0
    facts = {"alias": [alias] if alias else list(aliases), "tag": []}
    matched = []
    for automation in automations:
        spec = parsed_filter(automation)
        if spec is not None and mongo_matches(spec.mutation, facts):
            matched.append(automation)
    variables = artifact_variables(
        event_type, _author_of(session, artifact), collection, artifact, alias
    )
    return _emit(session, event_type, collection.project, variables, matched)


# ---- runs -----------------------------------------------------------------------------------


def run_facts(run: Run) -> dict[str, Any]:
    """What a run filter may test: names, state, tags, config values."""
    config = {
        k: (v.get("value") if isinstance(v, dict) and "value" in v else v)
        for k, v in (run.config or {}).items()
    }
    return {
        "name": run.name,
        "display_name": run.display_name or run.name,
        "displayName": run.display_name or run.name,
        "state": run.state,
        "tags": list(run.tags or []),
        "config": config,
        "group": run.group_name,
        "jobType": run.job_type,
    }


def run_variables(event_type: str, run: Run, author: str) -> dict[str, Any]:
    """The payload variables of a run event."""
    project = run.project
    return {
        "event_type": event_type,
        "event_author": author,
        "project_name": project.name,
        "entity_name": project.entity.name,
        "run_id": run.name,
        "run_name": run.display_name or run.name,
        "run_state": run.state,
    }


def _run_automations(session: Session, event_types: Sequence[str], run: Run) -> list[Automation]:
    return list(
        session.scalars(
            select(Automation).where(
                Automation.event_type.in_(event_types),
                Automation.enabled.is_(True),
                Automation.project_id == run.project_id,
                Automation.collection_id.is_(None),
            )
        )
    )


def _run_author(session: Session, run: Run) -> str:
    return actor(session, run.user.username if run.user is not None else "")


def on_run_state(session: Session, run: Run, before: str | None) -> int:
    """A run's state changed from `before` to `run.state`."""
    if before == run.state:
        return 0
    automations = _run_automations(session, ("RUN_STATE",), run)
    if not automations:
        return 0
    facts = run_facts(run)
    matched = []
    for automation in automations:
        spec = parsed_filter(automation)
        if (
            spec is not None
            and state_fires(spec, before, run.state)
            and mongo_matches(spec.run, facts)
        ):
            matched.append(automation)
    variables = run_variables("RUN_STATE", run, _run_author(session, run))
    return _emit(session, "RUN_STATE", run.project, variables, matched)


def on_metrics(
    session: Session,
    run: Run,
    new_values: Mapping[str, metric_chunks.Column],
) -> int:
    """New history values of a run, per metric `(line numbers, steps, values)` in line order:
    fire metric automations whose condition became true."""
    if not new_values:
        return 0
    automations = _run_automations(session, METRIC_EVENTS, run)
    if not automations:
        return 0
    facts = run_facts(run)
    author = _run_author(session, run)
    written = 0
    for automation in automations:
        spec = parsed_filter(automation)
        name = spec.metric_name if spec is not None else None
        if spec is None or name is None or not mongo_matches(spec.run, facts):
            continue
        column = new_values.get(name)
        if not column or not column[0]:
            continue
        lines, _, values = column
        before = metric_chunks.values_before_line(session, run.id, name, lines[0], spec.window)
        for index in metric_fires(spec, before, list(values)):
            variables = run_variables(automation.event_type, run, author)
            variables |= {"metric_name": name, "metric_value": values[index]}
            written += _emit(session, automation.event_type, run.project, variables, [automation])
    return written


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def on_summary(
    session: Session,
    run: Run,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    skip: Iterable[str] = (),
) -> int:
    """A run's summary changed: metric automations on a key set only through the summary
    (`run.summary[k] = v`, never logged as history) compare the old value with the new one.

    Keys in `skip` (history in the same post) and keys with history lines are left to
    `on_metrics`, so one crossing makes one event.
    """
    skipped = set(skip)
    changed = {
        key: (_number(before.get(key)), new)
        for key, value in after.items()
        if key not in skipped
        and (new := _number(value)) is not None
        and _number(before.get(key)) != new
    }
    if not changed:
        return 0
    automations = _run_automations(session, METRIC_EVENTS, run)
    if not automations:
        return 0
    facts = run_facts(run)
    author = _run_author(session, run)
    written = 0
    for automation in automations:
        spec = parsed_filter(automation)
        name = spec.metric_name if spec is not None else None
        if spec is None or name not in changed or not mongo_matches(spec.run, facts):
            continue
        if metric_chunks.has_values(session, run.id, name):
            continue  # a logged metric: its history lines decide (on_metrics)
        old, new = changed[name]
        if metric_fires(spec, [] if old is None else [old], [new]):
            variables = run_variables(automation.event_type, run, author)
            variables |= {"metric_name": name, "metric_value": new}
            written += _emit(session, automation.event_type, run.project, variables, [automation])
    return written


def describe(automation: Automation) -> str:
    """A one-line summary of an automation for pages and logs."""
    config = automation.action_config or {}
    target = automation.integration.name if automation.integration else "(no integration)"
    extra = f" payload={json.dumps(config.get('payload'))}" if config.get("payload") else ""
    return f"{automation.event_type} -> {automation.action_type} {target}{extra}"


def on_run_alert(session: Session, run: Run, title: str, text: str, level: str) -> int:
    """A run alert (`run.alert`): one delivery to each Slack integration of the run's entity."""
    project = run.project
    channels = session.scalars(
        select(Integration).where(
            Integration.entity_id == project.entity_id, Integration.kind == "slack"
        )
    ).all()
    if not channels:
        return 0
    variables = run_variables("RUN_ALERT", run, _run_author(session, run))
    variables |= {"alert_title": title, "alert_text": text, "alert_level": level}
    body = payloads.slack_message(title, text, level, variables)
    targets = [Target("slack", c.url, body, None, c.id) for c in channels]
    write_event(
        session,
        "RUN_ALERT",
        entity_id=project.entity_id,
        project_id=project.id,
        variables=variables,
        targets=targets,
    )
    return len(targets)
