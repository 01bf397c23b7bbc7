"""Resolvers for manifests uploaded in parts (incremental and distributed artifacts)."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from runyard.server.graphql.artifacts import manifest_node
from runyard.server.graphql.context import ctx
from runyard.server.tracking import artifact_manifest_service as manifests

mutation = MutationType()


@mutation.field("updateArtifactManifest")
def resolve_update_manifest(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """The manifest createArtifactManifest started, with its upload URL while pending."""
    context = ctx(info)
    manifest = manifests.manifest_by_id(context.uow, context.principal, input["artifactManifestID"])
    return {
        "artifactManifest": manifest_node(context, manifest),
        "clientMutationId": input.get("clientMutationId"),
    }


BINDABLES = [mutation]
