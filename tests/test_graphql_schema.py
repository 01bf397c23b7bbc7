"""The SDL accepts every GraphQL document the official client sends for tracking and reads.

The documents come from ../shared/wandb-protocol/op_catalog.json: requests captured from
the real client (0.19, 0.22, 0.31). Launch, artifact and sweep operations belong to later
issues and are checked there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from runyard.server.graphql.schema import build_schema

CATALOG = Path(__file__).resolve().parents[2] / "shared" / "wandb-protocol" / "op_catalog.json"
IN_SCOPE = {"basic", "resume", "public_api"}
# Operations seen in those scenarios that belong to the artifact/launch features.
LATER = {"GetDefaultEntity"}


def _catalog() -> list[dict[str, Any]]:
    if not CATALOG.exists():
        if os.environ.get("CI"):
            pytest.fail(f"protocol catalog missing at {CATALOG}")
        pytest.skip(f"protocol catalog not found at {CATALOG} (only in the dev workspace)")
    entries = json.loads(CATALOG.read_text())
    seen: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if set(entry["scenarios"]) & IN_SCOPE and entry["op"] not in LATER:
            seen.setdefault(entry["query_sha1_10"], entry)
    return list(seen.values())


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


def test_schema_declares_the_fields_the_client_probes() -> None:
    schema = build_schema()
    run_fields = set(schema.get_type("Run").fields)  # type: ignore[union-attr]
    assert {"historyLineCount", "stopped", "summaryMetrics", "wandbConfig"} <= run_fields
    upsert = schema.get_type("UpsertBucketInput")
    assert "summaryMetrics" in upsert.fields  # type: ignore[union-attr]
