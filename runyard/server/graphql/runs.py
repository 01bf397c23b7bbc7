"""Resolvers for projects and runs: the W&B tracking protocol and the public API's reads."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard.server.api.models import as_utc
from runyard.server.auth import Principal
from runyard.server.graphql.context import ctx
from runyard.server.history_export import reads as history_reads
from runyard.server.tracking import entities, history, project_reads, run_reads, run_writes
from runyard.server.tracking.config import wrap_config
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.tracking.run_search import RunQuery, count_runs, search_runs
from runyard.server.tracking.runs import UpsertRunInput

if TYPE_CHECKING:
    from runyard.server.db.models import Project, Run, User

query = QueryType()
mutation = MutationType()
project_type = ObjectType("Project")
run_type = ObjectType("Run")

# --- queries ---------------------------------------------------------------------------------


@query.field("project")
@query.field("model")
def resolve_project(
    _: Any, info: GraphQLResolveInfo, name: str | None = None, entityName: str | None = None
) -> Project | None:
    """A project by name; a missing entity means the caller's default entity."""
    context = ctx(info)
    entity_name = entityName or context.principal.entity_name
    return project_reads.find_readable_project(
        context.uow, context.principal, entity_name, name or "uncategorized"
    )


# --- Project ---------------------------------------------------------------------------------


@project_type.field("id")
def resolve_project_id(project: Project, _: GraphQLResolveInfo) -> str:
    """Node id of the project."""
    return encode_id("Project", project.id)


@project_type.field("internalId")
def resolve_project_internal_id(project: Project, _: GraphQLResolveInfo) -> str:
    """Integer-like id; wandb 0.31 parses it as an int."""
    return str(project.id)


@project_type.field("entityName")
def resolve_project_entity_name(project: Project, _: GraphQLResolveInfo) -> str:
    """Name of the project's entity."""
    return project.entity.name


@project_type.field("readOnly")
def resolve_read_only(*_: Any) -> bool:
    """Runyard has no read-only projects or runs yet."""
    return False


@project_type.field("run")
@project_type.field("bucket")
def resolve_project_run(
    project: Project, info: GraphQLResolveInfo, name: str, **_: Any
) -> Run | None:
    """A run of the project by its name (the client-chosen id); `missingOk`/`desc` unused."""
    return project_reads.run_of_project(ctx(info).uow, project, name)


@project_type.field("runCount")
def resolve_run_count(
    project: Project, info: GraphQLResolveInfo, filters: str | None = None
) -> int:
    """Number of runs matching `filters`."""
    context = ctx(info)
    return count_runs(context.uow, context.principal, project, None, filters)


@project_type.field("runs")
def resolve_runs(
    project: Project,
    info: GraphQLResolveInfo,
    filters: str | None = None,
    order: str | None = None,
    first: int | None = 50,
    after: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """A page of runs, filtered and ordered like W&B; cursors are offsets."""
    context = ctx(info)
    start = decode_id("Cursor", after) + 1 if after else 0
    size = max(1, min(first or 50, 1000))
    query = RunQuery(filters=filters, order=order, offset=start, limit=size)
    page = search_runs(context.uow, context.principal, project, None, query)
    edges = [
        {"node": run, "cursor": encode_id("Cursor", start + i)} for i, run in enumerate(page.runs)
    ]
    return {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": page.has_more,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


# --- Run -------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    # W&B returns naive UTC timestamps without a zone suffix; clients parse that form.
    return aware.strftime("%Y-%m-%dT%H:%M:%S") if aware else None


RUN_ATTRIBUTES = {
    "displayName": lambda r: r.display_name or r.name,
    "description": lambda r: r.notes,
    "group": lambda r: r.group_name,
    "jobType": lambda r: r.job_type,
    "sweepName": lambda r: r.sweep_name,
    "historyLineCount": lambda r: r.history_line_count,
    "eventsLineCount": lambda r: r.events_line_count,
    "logLineCount": lambda r: r.log_line_count,
    "stopped": lambda r: r.stop_requested,
    "exitcode": lambda r: r.exit_code,
    "projectId": lambda r: str(r.project_id),
    "createdAt": lambda r: _iso(r.created_at),
    "updatedAt": lambda r: _iso(r.updated_at),
    "heartbeatAt": lambda r: _iso(r.heartbeat_at),
    "config": lambda r: json.dumps(wrap_config(r.config or {}, r.wandb_config or {})),
    "summaryMetrics": lambda r: json.dumps(r.summary or {}),
    "readOnly": lambda r: False,
    "project": lambda r: r.project,
}


def _bind_attribute(field: str, getter: Any) -> None:
    run_type.set_field(field, lambda run, _info, **_kw: getter(run))


for _field, _getter in RUN_ATTRIBUTES.items():
    _bind_attribute(_field, _getter)


@run_type.field("id")
def resolve_run_id(run: Run, _: GraphQLResolveInfo) -> str:
    """Node id of the run (the client sends it back as `id` when resuming)."""
    return encode_id("Run", run.id)


@run_type.field("user")
def resolve_run_user(run: Run, info: GraphQLResolveInfo) -> Principal | User | None:
    """Who started the run (a service account's run: the member it named), else the owner."""
    return entities.user_of_run(ctx(info).uow, run)


@run_type.field("wandbConfig")
def resolve_wandb_config(run: Run, _: GraphQLResolveInfo, keys: list[str] | None = None) -> str:
    """The client's `_wandb` config; resume counts a run as existing only if it holds `t`."""
    internals = run.wandb_config or {}
    selected = {k: v for k, v in internals.items() if keys is None or k in keys}
    return json.dumps(selected)


@run_type.field("historyTail")
def resolve_history_tail(run: Run, info: GraphQLResolveInfo) -> str:
    """The last history lines: a JSON string of an array of JSON strings."""
    return json.dumps(run_reads.history_tail(ctx(info).uow, run))


@run_type.field("eventsTail")
def resolve_events_tail(run: Run, info: GraphQLResolveInfo) -> str:
    """The last system-metrics lines, in the same form as historyTail."""
    return json.dumps(run_reads.history_tail(ctx(info).uow, run, events=True))


@run_type.field("history")
def resolve_history(
    run: Run,
    info: GraphQLResolveInfo,
    samples: int | None = None,
    minStep: int | None = None,
    maxStep: int | None = None,
    **_: Any,
) -> list[str]:
    """History lines as JSON strings: a step range page, or an even sample of the whole run."""
    uow = ctx(info).uow
    if minStep is not None or maxStep is not None:
        return run_reads.history_range(uow, run, minStep, maxStep, samples)
    rows = run_reads.sampled_rows(uow, run, [], samples or 500)
    return [json.dumps(row) for row in rows]


@run_type.field("events")
def resolve_events(run: Run, info: GraphQLResolveInfo, samples: int | None = None) -> list[str]:
    """System-metrics lines as JSON strings, an even sample of the run's (default 500)."""
    return run_reads.sampled_events(ctx(info).uow, run, samples or 500)


@run_type.field("systemMetrics")
def resolve_system_metrics(run: Run, info: GraphQLResolveInfo) -> str:
    """The latest value of each system metric, as a JSON string."""
    return json.dumps(run_reads.latest_system_metrics(ctx(info).uow, run))


@run_type.field("sampledHistory")
def resolve_sampled_history(
    run: Run, info: GraphQLResolveInfo, specs: list[str], **_: Any
) -> list[list[dict[str, Any]]]:
    """For each spec `{"keys", "samples", "minStep", "maxStep"}`, rows holding all the keys."""
    uow = ctx(info).uow
    out = []
    for spec in map(history.parse_sample_spec, specs):
        rows = run_reads.sampled_rows(
            uow, run, spec.keys, spec.samples, spec.min_step, spec.max_step
        )
        # Rows go out as JSON values, not text: a logged NaN would make the answer invalid.
        out.append([history.spelled_numbers(row) for row in rows])
    return out


@run_type.field("historyKeys")
def resolve_history_keys(run: Run, info: GraphQLResolveInfo, **_: Any) -> dict[str, Any]:
    """Metric names with type counts and latest value, and the last step."""
    stats, last_step = run_reads.history_keys(ctx(info).uow, run)
    return {
        "lastStep": last_step if last_step is not None else -1,
        "keys": {
            key: {
                "typeCounts": [{"type": "number", "count": stat.count}],
                "previousValue": stat.last,
            }
            for key, stat in stats.items()
        },
    }


@run_type.field("parquetHistory")
def resolve_parquet_history(
    run: Run, info: GraphQLResolveInfo, liveKeys: list[str], **_: Any
) -> dict[str, Any]:
    """Signed URLs of the run's Parquet export; rows not exported yet, cut to `liveKeys`."""
    context = ctx(info)
    answer = history_reads.parquet_history(context.uow, run, liveKeys, context.base_url)
    return {"parquetUrls": answer.parquet_urls, "liveData": answer.live_data}


# --- mutations -------------------------------------------------------------------------------


@mutation.field("upsertBucket")
def resolve_upsert_bucket(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Create or update a run (W&B calls runs buckets)."""
    context = ctx(info)
    data = UpsertRunInput.model_validate(input)
    run, inserted = run_writes.upsert_bucket(
        context.uow,
        context.principal,
        data,
        wandb_username=context.wandb_username,
        wandb_user_email=context.wandb_user_email,
    )
    return {"bucket": run, "inserted": inserted}


@mutation.field("createRunFiles")
def resolve_create_run_files(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Hand out signed upload URLs for run files; the client PUTs without credentials."""
    context = ctx(info)
    entity_name = input.get("entityName") or context.principal.entity_name
    run, urls = run_writes.create_run_files(
        context.uow,
        context.principal,
        entity_name,
        input["projectName"],
        input["runName"],
        list(input["files"]),
        context.base_url,
    )
    return {
        "runID": encode_id("Run", run.id),
        "uploadHeaders": [],
        "files": [{"name": name, "uploadUrl": url} for name, url in urls],
    }


BINDABLES = [query, mutation, project_type, run_type]
