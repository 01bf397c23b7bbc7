"""The executable GraphQL schema: `schema.graphql` (SDL) plus the resolvers bound to it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ariadne import ScalarType, load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

from runyard.server.graphql import (
    artifact_drafts,
    artifact_edits,
    artifact_reads,
    artifacts,
    automations,
    identity,
    launch,
    launch_agent,
    launch_queues,
    people,
    people_types,
    project_list,
    projects,
    registry,
    reports,
    run_branches,
    run_delete,
    run_files,
    run_state,
    runs,
    server_settings,
    sweeps,
)
from runyard.server.input_limits import INT64_MAX, INT64_MIN

SDL_PATH = Path(__file__).parent / "schema.graphql"
# Further SDL files extend the main one, one per concept (e.g. artifact_reads.graphql).
SDL_FILES = [SDL_PATH, *sorted(p for p in SDL_PATH.parent.glob("*.graphql") if p != SDL_PATH)]

# JSONString values travel as strings both ways; the resolvers encode and decode them.
json_string = ScalarType("JSONString")
# JSON and DateTime pass through unchanged: resolvers return JSON-ready values.


def parse_int64(value: Any) -> Any:
    """An Int64 argument as given, refused when outside the 64-bit range of its columns."""
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not (INT64_MIN <= value <= INT64_MAX)
    ):
        raise ValueError(f"Int64 must lie within {INT64_MIN}..{INT64_MAX}, got {value}")
    return value


# Int64 outputs pass through unchanged; inputs are range-checked (a 422-like validation error
# naming the argument instead of a database overflow).
int64 = ScalarType("Int64", value_parser=parse_int64)


@cache
def build_schema() -> GraphQLSchema:
    """Load the SDL and bind every resolver; cached because it is immutable."""
    return make_executable_schema(
        [load_schema_from_path(str(path)) for path in SDL_FILES],
        json_string,
        int64,
        *identity.BINDABLES,
        *runs.BINDABLES,
        *run_files.BINDABLES,
        *launch.BINDABLES,
        *launch_agent.BINDABLES,
        *launch_queues.BINDABLES,
        *projects.BINDABLES,
        *artifacts.BINDABLES,
        *artifact_edits.BINDABLES,
        *artifact_drafts.BINDABLES,
        *run_delete.BINDABLES,
        *run_state.BINDABLES,
        *run_branches.BINDABLES,
        *server_settings.BINDABLES,
        *people.BINDABLES,
        *people_types.BINDABLES,
        *project_list.BINDABLES,
        *artifact_reads.BINDABLES,
        *registry.BINDABLES,
        *reports.BINDABLES,
        *automations.BINDABLES,
        *sweeps.BINDABLES,
    )
