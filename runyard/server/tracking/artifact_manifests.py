"""Deciding functions for manifests sent in parts (pure: no database, no object store).

W&B clients upload one of three manifests for a version:
- `wandb_manifest.json` (type FULL): the whole version;
- `wandb_manifest.incremental.json` (type INCREMENTAL, `Artifact(..., incremental=True)`):
  entries to add to or replace in a base version (the collection's latest);
- `wandb_manifest.patch.json` (type PATCH, `run.upsert_artifact(..., distributed_id=...)`):
  one run's share of a distributed version; each run uploads its own.
The server assembles the full manifest at commit: base entries, then each part in order.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from runyard.server.errors import ErrorCode, ServiceError

FULL = "FULL"
INCREMENTAL = "INCREMENTAL"
PATCH = "PATCH"
MANIFEST_NAMES = {
    "wandb_manifest.json": FULL,
    "wandb_manifest.incremental.json": INCREMENTAL,
    "wandb_manifest.patch.json": PATCH,
}
# W&B's manifest digest (ArtifactDigestAlgorithm MANIFEST_MD5): what createArtifact sends.
_DIGEST_HEADER = b"wandb-artifact-manifest-v1\n"
# A reference is a URI the client fetches itself: file://, http(s)://, s3://, gs://, ...
_REFERENCE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://.+$")


def manifest_kind(name: str, manifest_type: str | None) -> str:
    """The manifest type a createArtifactManifest names; refuse unknown names or a type that
    contradicts the name."""
    kind = MANIFEST_NAMES.get(name)
    if kind is None:
        names = ", ".join(sorted(MANIFEST_NAMES))
        raise ServiceError(
            ErrorCode.INVALID, f"name: {name!r} is not a manifest name W&B clients use ({names})"
        )
    if manifest_type is not None and manifest_type != kind:
        raise ServiceError(
            ErrorCode.INVALID,
            f"type: a manifest named {name!r} has type {kind}, not {manifest_type}",
        )
    return kind


def assemble(base: dict[str, Any] | None, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The full manifest: the base's entries, then each part's entries added or replaced in
    order; the storage policy of the last document that states one."""
    out: dict[str, Any] = {"version": 1, "contents": {}}
    for doc in [base, *parts]:
        if doc is None:
            continue
        for field, value in doc.items():
            if field != "contents":
                out[field] = value
        out["contents"].update(doc.get("contents") or {})
    out["contents"] = dict(sorted(out["contents"].items()))
    return out


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The version digest of a manifest, computed as the client does (hex MD5 over
    `path:digest` lines, by path)."""
    hasher = hashlib.md5(_DIGEST_HEADER, usedforsecurity=False)
    for path, entry in sorted((manifest.get("contents") or {}).items()):
        hasher.update(f"{path}:{entry.get('digest')}\n".encode())
    return hasher.hexdigest()


def check_reference(path: str, ref: str) -> None:
    """Refuse a reference entry whose `ref` is no URI (`scheme://...`): no client could
    download it."""
    if not _REFERENCE_RE.match(ref):
        raise ServiceError(
            ErrorCode.INVALID,
            f"manifest: entry {path!r} references {ref!r}, which is not a URI; "
            "references look like file:///path, https://host/path or s3://bucket/key",
        )
