"""The executable GraphQL schema: `schema.graphql` (SDL) plus the resolvers bound to it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ariadne import ScalarType, load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

from runyard.server.graphql import (
    artifacts,
    identity,
    launch,
    launch_agent,
    launch_queues,
    people,
    people_types,
    project_list,
    projects,
    run_delete,
    runs,
    server_settings,
)

SDL_PATH = Path(__file__).parent / "schema.graphql"

# JSONString values travel as strings both ways; the resolvers encode and decode them.
json_string = ScalarType("JSONString")
# JSON, DateTime and Int64 pass through unchanged: resolvers return JSON-ready values.


@cache
def build_schema() -> GraphQLSchema:
    """Load the SDL and bind every resolver; cached because it is immutable."""
    return make_executable_schema(
        load_schema_from_path(str(SDL_PATH)),
        json_string,
        *identity.BINDABLES,
        *runs.BINDABLES,
        *launch.BINDABLES,
        *launch_agent.BINDABLES,
        *launch_queues.BINDABLES,
        *projects.BINDABLES,
        *artifacts.BINDABLES,
        *run_delete.BINDABLES,
        *server_settings.BINDABLES,
        *people.BINDABLES,
        *people_types.BINDABLES,
        *project_list.BINDABLES,
    )
