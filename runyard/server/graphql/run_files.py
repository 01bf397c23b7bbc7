"""Resolvers for a run's files: `Run.files`, `Run.fileCount` and `File.url(upload:)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.api.models import as_utc
from runyard.server.graphql.context import ctx
from runyard.server.tracking import run_files
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Run

run_type = ObjectType("Run")
file_type = ObjectType("File")


def _node(run: Run, view: run_files.RunFileView) -> dict[str, Any]:
    updated = as_utc(view.updated_at)
    return {
        "id": encode_id("File", view.id),
        "name": view.name,
        "displayName": view.name.rsplit("/", 1)[-1],
        "digest": view.md5_b64,
        "md5": view.md5_b64,
        "sizeBytes": view.size,
        "mimetype": view.mimetype,
        # W&B's naive-UTC form; `wandb restore` only reads a file whose updatedAt is set.
        "updatedAt": updated.strftime("%Y-%m-%dT%H:%M:%S") if updated else None,
        "directUrl": view.url,
        "url": view.url,
        "storagePath": None,
        "uploadUrl": None,
        "uploadHeaders": [],
        "uploadMultipartUrls": None,
        "artifact": None,
        "_run": run,
    }


@run_type.field("fileCount")
def resolve_file_count(run: Run, info: GraphQLResolveInfo) -> int:
    """How many files the run has."""
    return run_files.file_count(ctx(info).uow, run)


@run_type.field("files")
def resolve_files(
    run: Run,
    info: GraphQLResolveInfo,
    names: list[str | None] | None = None,
    after: str | None = None,
    first: int | None = None,
    pattern: str | None = None,
) -> dict[str, Any]:
    """A page of the run's files by name; the cursor is the last file's name."""
    context = ctx(info)
    wanted = [n for n in names or [] if n]
    page = run_files.files_page(
        context.uow,
        run,
        context.base_url,
        names=wanted or None,
        pattern=pattern,
        after=after,
        first=first,
    )
    edges = [{"node": _node(run, view), "cursor": view.name} for view in page.files]
    return {
        "edges": edges,
        "pageInfo": {
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": page.has_next,
        },
        "totalCount": page.total,
    }


@file_type.field("url")
def resolve_file_url(file: dict[str, Any], info: GraphQLResolveInfo, upload: bool = False) -> str:
    """The signed download URL; `upload: true` asks for a signed upload URL of a run file."""
    run = file.get("_run")
    if not upload or run is None:
        return str(file["url"])
    context = ctx(info)
    return run_files.upload_url(context.uow, context.principal, run, file["name"], context.base_url)


BINDABLES = [run_type, file_type]
