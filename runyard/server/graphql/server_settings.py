"""`UpsertBucketPayload.serverSettings`: the legacy Python sender selects it on every upsert."""

from __future__ import annotations

from typing import Any

from ariadne import ObjectType

payload_type = ObjectType("UpsertBucketPayload")


@payload_type.field("serverSettings")
def resolve_server_settings(*_: Any) -> dict[str, Any]:
    """Runyard has no server messages for clients."""
    return {"serverMessages": []}


BINDABLES = [payload_type]
