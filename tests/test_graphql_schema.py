"""The SDL accepts every GraphQL document the official client sends for tracking and reads.

`fixtures/wandb_tracking_documents.json` holds the documents that the real client
(0.19, 0.22, 0.31) sent in the tracking, resume and public-API scenarios, extracted from
the captures in ../shared/wandb-protocol/op_catalog.json. Launch, artifact and sweep
operations belong to later issues and are checked there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphql import parse, validate

from runyard.server.graphql.schema import build_schema
from support.server import LiveServer

DOCUMENTS = Path(__file__).parent / "fixtures" / "wandb_tracking_documents.json"
# What `wandb launch --queue` sends (the agent's side is not served yet).
LAUNCH_PUSH = Path(__file__).parent / "fixtures" / "wandb_launch_push_documents.json"


def _catalog() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(DOCUMENTS.read_text())
    return entries


def test_every_client_document_validates() -> None:
    schema = build_schema()
    entries = _catalog()
    assert len(entries) > 20, "the catalog should hold the client's tracking operations"
    failures = []
    for entry in entries:
        errors = validate(schema, parse(entry["query"]))
        if errors:
            failures.append(f"{entry['op']} ({entry['version']}): {[e.message for e in errors]}")
    assert not failures, "\n".join(failures)


def test_every_launch_push_document_validates() -> None:
    schema = build_schema()
    entries = json.loads(LAUNCH_PUSH.read_text())
    assert {e["op"] for e in entries} >= {"pushToRunQueueByName", "GetRunQueueMetadata"}
    failures = [
        f"{e['op']} ({e['version']}): {[err.message for err in errors]}"
        for e in entries
        if (errors := validate(schema, parse(e["query"])))
    ]
    assert not failures, "\n".join(failures)


def test_schema_declares_the_fields_the_client_probes() -> None:
    schema = build_schema()
    run_fields = set(schema.get_type("Run").fields)  # type: ignore[union-attr]
    assert {"historyLineCount", "stopped", "summaryMetrics", "wandbConfig"} <= run_fields
    upsert = schema.get_type("UpsertBucketInput")
    assert "summaryMetrics" in upsert.fields  # type: ignore[union-attr]


def test_documents_without_variables_execute_cleanly(sqlite_server: LiveServer) -> None:
    # Viewer, server features and the introspection probes older clients send at init.
    plain = [e for e in _catalog() if "$" not in e["query"]]
    assert {"ProbeServerCapabilities", "Viewer", "anon:viewer"} <= {e["op"] for e in plain}
    with sqlite_server.api() as api:
        for entry in plain:
            response = api.post("/graphql", json={"query": entry["query"]})
            assert response.status_code == 200, (entry["op"], response.text)
            body = response.json()
            assert "errors" not in body, (entry["op"], body)
            if "viewer" in body["data"]:
                assert body["data"]["viewer"]["id"]
