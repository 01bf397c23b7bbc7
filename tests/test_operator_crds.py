"""Generated CRDs: fresh, structural, strictly valid, and accepting the example cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from runyard.operator.crds import all_crds

ROOT = Path(__file__).resolve().parent.parent
CRD_DIRS = (ROOT / "crds", ROOT / "charts" / "runyard" / "crds")


def _schemas() -> dict[str, dict[str, Any]]:
    return {
        doc["spec"]["names"]["kind"]: doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for doc in all_crds().values()
    }


def _walk(node: dict[str, Any], path: str) -> list[str]:
    """Violations of the structural-schema rules below `node`."""
    problems = []
    if "$ref" in node or "anyOf" in node or "allOf" in node or "oneOf" in node:
        problems.append(f"{path}: uses $ref/anyOf/allOf/oneOf")
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: has no type")
    free_form = "properties" not in node and "additionalProperties" not in node
    preserved = node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("type") == "object" and free_form and not preserved:
        problems.append(f"{path}: free-form object without preserve-unknown-fields")
    if not path.endswith(".items") and not node.get("description"):
        problems.append(f"{path}: has no description (kubectl explain shows nothing)")
    for name, sub in (node.get("properties") or {}).items():
        problems += _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += _walk(node["items"], f"{path}.items")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _walk(node["additionalProperties"], f"{path}.items")
    return problems


def _validate(doc: dict[str, Any], schema: dict[str, Any]) -> None:
    # OpenAPI v3.0 schemas follow JSON Schema draft 4 (boolean exclusiveMinimum).
    jsonschema.Draft4Validator(schema).validate(doc)


def test_crd_files_are_fresh() -> None:
    """`make crds` output is committed: a model change without regeneration fails here."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "gen_crds.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"crds/ is stale, run `make crds`:\n{result.stderr}"
    for folder in CRD_DIRS:
        assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(all_crds())


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_crds_pass_strict_kubernetes_validation(name: str) -> None:
    """Each CRD file is a valid apiextensions.k8s.io/v1 object under --strict."""
    doc = yaml.safe_load((ROOT / "crds" / name).read_text())
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("kind", ["TrackingServer", "LaunchQueue", "AgentPool"])
def test_schemas_are_structural_and_described(kind: str) -> None:
    """No $ref/anyOf, every node typed, every field described (for kubectl explain)."""
    schema = _schemas()[kind]
    problems = _walk(schema["properties"]["spec"], "spec") + _walk(
        schema["properties"]["status"], "status"
    )
    assert problems == []


def test_printer_columns_and_subresources() -> None:
    """kubectl get shows ready/url/pending/running/replicas/gpus free; AgentPool scales."""
    crds = {d["spec"]["names"]["kind"]: d["spec"]["versions"][0] for d in all_crds().values()}
    columns = {k: [c["name"] for c in v["additionalPrinterColumns"]] for k, v in crds.items()}
    assert {"Ready", "URL"} <= set(columns["TrackingServer"])
    assert {"Ready", "Pending", "Running"} <= set(columns["LaunchQueue"])
    assert {"Ready", "Replicas", "GPUs Free", "Pending", "Running"} <= set(columns["AgentPool"])
    assert all("status" in v["subresources"] for v in crds.values())
    scale = crds["AgentPool"]["subresources"]["scale"]
    assert scale["specReplicasPath"] == ".spec.replicas"
    assert scale["statusReplicasPath"] == ".status.replicas"
    assert "scale" not in crds["TrackingServer"]["subresources"]


def test_example_cluster_validates_against_the_crd_schemas() -> None:
    """examples/cluster.yaml: a server, queues a100/h100 and pools a100/h100, all valid."""
    docs = list(yaml.safe_load_all((ROOT / "examples" / "cluster.yaml").read_text()))
    schemas = _schemas()
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [
        ("TrackingServer", "runyard"),
        ("LaunchQueue", "a100"),
        ("LaunchQueue", "h100"),
        ("AgentPool", "a100"),
        ("AgentPool", "h100"),
    ]
    for doc in docs:
        _validate(doc, schemas[doc["kind"]])


def test_crd_schema_rejects_negative_replicas_and_unknown_fields() -> None:
    """The API server refuses obviously bad CRs before the operator sees them."""
    schema = _schemas()["AgentPool"]
    bad = {
        "apiVersion": "runyard.dev/v1alpha1",
        "kind": "AgentPool",
        "spec": {"serverRef": {"name": "rs"}, "queues": ["q"], "scaling": {"minReplicas": -1}},
    }
    with pytest.raises(jsonschema.ValidationError, match="-1"):
        _validate(bad, schema)
