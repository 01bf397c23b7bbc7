#!/usr/bin/env python3
"""Lint the Helm chart, render it, and validate every rendered manifest offline.

    .venv/bin/python hack/chart_check.py            # what `make chart-lint` runs
    .venv/bin/python hack/chart_check.py --set trackingServer.create=true --show

Uses helm-python-sdk (the Helm v4 SDK, no `helm` binary) for `lint` and `render`, and
kubernetes-validate --strict for every built-in kind (unknown fields are errors) against the
oldest Kubernetes the chart supports and the newest that kubernetes-validate knows.
Custom resources (runyard.dev, kopf.dev) are validated with jsonschema against the
openAPIV3Schema of their CRD, taken from the chart's crds/ folder or from the render itself;
a kind whose CRD is not there yet is skipped with a printed note, never silently.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "runyard"
RELEASE = "runyard"
NAMESPACE = "runyard"
# The value sets CI renders: the defaults, one install that also creates a default
# TrackingServer, LaunchQueue and AgentPool, and two operator replicas with peering.
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "trackingServer.create=true": {"trackingServer": {"create": True}},
    "operator.replicas=2": {"operator": {"replicas": 2}},
}
# Lint findings at or above this severity fail (1 info, 2 warning, 3 error).
LINT_FAIL_SEVERITY = 2


@dataclass
class Manifest:
    """One object from a rendered template."""

    template: str
    body: dict[str, Any]

    @property
    def ref(self) -> str:
        name = self.body.get("metadata", {}).get("name", "?")
        return f"{self.body.get('kind', '?')}/{name} ({self.template})"


@dataclass
class Report:
    """What a check found: errors fail it, notes are printed and don't."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    validated: int = 0

    def extend(self, other: Report) -> None:
        self.errors += other.errors
        self.notes += other.notes
        self.validated += other.validated


def kube_versions() -> tuple[str, str]:
    """The oldest Kubernetes in Chart.yaml's kubeVersion and the newest one we have schemas for."""
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    constraint = str(meta.get("kubeVersion", ">=1.27.0-0"))
    oldest = constraint.lstrip(">=~^ ").split("-")[0]
    return oldest, kubernetes_validate.latest_version()


def lint(chart: Path = CHART, values: dict[str, Any] | None = None) -> Report:
    """`helm lint --strict`; infos are notes, warnings and errors fail."""
    result = helm.lint(chart, values, strict=True, namespace=NAMESPACE)
    report = Report()
    for message in result.get("messages", []):
        line = f"lint {message.get('path', '')}: {message.get('error', '')}"
        if int(message.get("severity", 0)) >= LINT_FAIL_SEVERITY:
            report.errors.append(line)
        else:
            report.notes.append(line)
    # `errors` repeats the error-level messages; keep only what they don't already say.
    said = " ".join(str(m.get("error", "")) for m in result.get("messages", []))
    report.errors += [f"lint: {e}" for e in result.get("errors", []) if str(e).strip() not in said]
    return report


def render(values: dict[str, Any] | None = None, chart: Path = CHART) -> list[Manifest]:
    """Render the chart like `helm install` would and split it into objects (NOTES.txt excluded).

    Raises helm.HelmValuesError naming the field when values break values.schema.json.
    """
    with helm.Chart.load(chart) as loaded:
        rendered = loaded.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests = []
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue
        for body in yaml.safe_load_all(text):
            if body:
                manifests.append(Manifest(template, body))
    return manifests


def notes(values: dict[str, Any] | None = None, chart: Path = CHART) -> str:
    """The rendered NOTES.txt that `helm install` prints."""
    with helm.Chart.load(chart) as loaded:
        rendered = loaded.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next((text for name, text in rendered.items() if name.endswith("NOTES.txt")), "")


def chart_crds(chart: Path = CHART) -> list[Manifest]:
    """The CRDs shipped in the chart's crds/ folder (Helm installs them before templates)."""
    found = []
    for path in sorted((chart / "crds").glob("*.y*ml")):
        for body in yaml.safe_load_all(path.read_text()):
            if body:
                found.append(Manifest(f"crds/{path.name}", body))
    return found


def crd_schemas(crds: Iterable[Manifest]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema of every served version of the given CRDs."""
    schemas = {}
    for crd in crds:
        if crd.body.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd.body.get("spec", {})
        for version in spec.get("versions", []):
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is not None:
                key = (spec.get("group", ""), version.get("name", ""), spec["names"]["kind"])
                schemas[key] = schema
    return schemas


def strict_schema(schema: Any, top: bool = True) -> Any:
    """A CRD's openAPIV3Schema as strict JSON Schema, like kubernetes-validate --strict.

    The API server silently prunes fields a CRD does not declare, so a misspelt field in a
    custom resource would vanish without an error: here every object that declares its
    `properties` (and neither preserves unknown fields nor sets `additionalProperties`) rejects
    unknown ones. `nullable: true` also admits null, and int-or-string fields take either.
    """
    if isinstance(schema, list):
        return [strict_schema(item, top=False) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("items", "additionalProperties", "anyOf", "allOf", "oneOf", "not"):
        if isinstance(schema.get(key), dict | list):
            out[key] = strict_schema(schema[key], top=False)
    if "properties" in schema:
        out["properties"] = {
            k: strict_schema(v, top=False) for k, v in schema["properties"].items()
        }
    if top:
        # The API server owns these; CRD schemas usually leave them out.
        out.setdefault("properties", {})
        for key in ("apiVersion", "kind", "metadata"):
            out["properties"].setdefault(key, {})
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if schema.get("nullable") and isinstance(schema.get("type"), str):
        out["type"] = [schema["type"], "null"]
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return out


def _format_error(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    return f"{path}: {error.message}"


def validate_builtin(manifest: Manifest, versions: Iterable[str]) -> Report:
    """kubernetes-validate --strict against each Kubernetes version."""
    report = Report()
    for version in versions:
        try:
            kubernetes_validate.validate(manifest.body, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            report.errors.append(
                f"{manifest.ref} is invalid for Kubernetes {version}: {_format_error(error)}"
            )
        except kubernetes_validate.SchemaNotFoundError as error:
            report.errors.append(f"{manifest.ref}: {error.message}")
        else:
            report.validated += 1
    return report


def validate_custom(
    manifest: Manifest, schemas: Mapping[tuple[str, str, str], dict[str, Any]]
) -> Report:
    """A custom resource against its CRD's openAPIV3Schema, strictly, or a printed skip."""
    report = Report()
    group, _, version = str(manifest.body.get("apiVersion", "")).rpartition("/")
    schema = schemas.get((group, version, str(manifest.body.get("kind"))))
    if schema is None:
        report.notes.append(
            f"SKIPPED {manifest.ref}: no CRD for {manifest.body.get('apiVersion')} "
            f"{manifest.body.get('kind')} in {CHART.relative_to(ROOT)}/crds/ or the render "
            "(run `make crds` to generate the runyard.dev CRDs)"
        )
        return report
    validator = jsonschema.Draft7Validator(strict_schema(schema))
    for error in sorted(validator.iter_errors(manifest.body), key=lambda e: list(e.path)):
        report.errors.append(f"{manifest.ref} does not match its CRD: {_format_error(error)}")
    report.validated += 1
    return report


def is_builtin(body: Mapping[str, Any]) -> bool:
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    return group == "" or group.endswith(".k8s.io") or "." not in group


def validate(manifests: list[Manifest], crds: list[Manifest] | None = None) -> Report:
    """Validate every manifest, and the chart's CRDs themselves, strictly."""
    crds = chart_crds() if crds is None else crds
    versions = kube_versions()
    schemas = crd_schemas([*crds, *manifests])
    report = Report()
    for manifest in [*crds, *manifests]:
        if is_builtin(manifest.body):
            report.extend(validate_builtin(manifest, versions))
        else:
            report.extend(validate_custom(manifest, schemas))
    return report


def check(scenarios: Mapping[str, dict[str, Any]] = SCENARIOS) -> Report:
    """Lint and validate the chart under each value set."""
    total = Report()
    for label, values in scenarios.items():
        report = lint(values=values)
        try:
            manifests = render(values)
        except helm.HelmError as failure:
            if not any(str(failure).strip() in error for error in report.errors):
                report.errors.append(f"render: {failure}")
            manifests = []
        report.extend(validate(manifests))
        print(
            f"[{label}] {len(manifests)} objects rendered, {report.validated} validations passed, "
            f"{len(report.errors)} errors"
        )
        for note in report.notes:
            print(f"  note: {note}")
        for error in report.errors:
            print(f"  ERROR: {error}")
        total.extend(report)
    return total


def _parse_sets(expressions: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for expression in expressions:
        _merge(values, helm.parse_set_string(expression))
    return values


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="check only this value set (helm --set syntax; repeatable)",
    )
    parser.add_argument("--show", action="store_true", help="print the rendered manifests")
    args = parser.parse_args(argv)
    helm.disable_logging()  # the SDK's own log lines repeat what the report says
    scenarios = {",".join(args.set): _parse_sets(args.set)} if args.set else SCENARIOS
    if args.show:
        for values in scenarios.values():
            print(yaml.safe_dump_all([m.body for m in render(values)], sort_keys=False))
    report = check(scenarios)
    if report.errors:
        print(f"chart check FAILED: {len(report.errors)} errors")
        return 1
    print(f"chart check passed: {report.validated} validations, {len(report.notes)} notes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
