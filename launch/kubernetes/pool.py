"""A GPU node pool as the agent sees it: where its Jobs go and how they are placed.

Every setting is checked against what the Kubernetes API accepts when the agent starts,
so a typo in the agent's config names the field at once instead of failing each Job.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .allowlists import MAX_ENTRIES, PoolPolicy, check_patterns
from .names import is_dns_label, is_dns_subdomain, is_label_value, is_qualified_name

TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
RESERVED_PREFIX = "runyard.dev/"  # labels and annotations the agent sets itself
# An extended resource is vendor-qualified: nvidia.com/gpu, amd.com/gpu, gpu.intel.com/i915.
_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._A-Za-z0-9]{1,253}$")


class SecretRef(BaseModel):
    """A key of a Kubernetes Secret in the job namespace."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="runyard-api-key", description="Secret name.")
    key: str = Field(default="api-key", description="Key inside the Secret.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_dns_subdomain(value):
            raise ValueError(f"{value!r} is not a Secret name (lowercase a-z, 0-9, '-', '.')")
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _SECRET_KEY.match(value):
            raise ValueError(f"{value!r} is not a Secret key (letters, digits, '-', '_', '.')")
        return value


_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_API_VERSION = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?/v[0-9a-z]+$"
)


class WorkloadKind(BaseModel):
    """A run-to-completion custom resource (JobSet, PyTorchJob, ...) queue templates may name.

    The agent creates it with its pods' templates placed on the pool, tracks its pods by
    label, and reads its end from its status conditions (Complete/Completed/Succeeded or
    Failed); the agent's ServiceAccount needs create/get/list/watch/patch/delete on it.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: str = Field(
        alias="apiVersion", description="group/version, e.g. jobset.x-k8s.io/v1alpha2."
    )
    kind: str = Field(description="The kind, e.g. JobSet.")
    plural: str | None = Field(
        None, description="Its resource name in API paths; default: the kind lowercased + s."
    )

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not _API_VERSION.match(value):
            raise ValueError(
                f"{value!r} is not a custom resource's group/version, e.g. "
                "jobset.x-k8s.io/v1alpha2 (built-in kinds other than batch/v1 Job can't be "
                "run by the agent: their pods never end or are not the agent's)"
            )
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if not _KIND.match(value):
            raise ValueError(f"{value!r} is not a kind: CamelCase letters and digits, e.g. JobSet")
        return value

    @field_validator("plural")
    @classmethod
    def _plural(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_label(value):
            raise ValueError(f"{value!r} is not a resource name: lowercase, e.g. jobsets")
        return value

    @property
    def group(self) -> str:
        """The API group: `jobset.x-k8s.io`."""
        return self.api_version.split("/")[0]

    @property
    def version(self) -> str:
        """The API version: `v1alpha2`."""
        return self.api_version.split("/")[1]

    @property
    def resource(self) -> str:
        """The plural in API paths: `jobsets`."""
        return self.plural or f"{self.kind.lower()}s"


def _check_toleration(i: int, toleration: dict[str, Any]) -> list[str]:
    """What the API server would refuse in one toleration (its ValidateTolerations rules)."""
    where = f"tolerations[{i}]"
    unknown = set(toleration) - TOLERATION_KEYS
    if unknown:
        return [f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(TOLERATION_KEYS)}"]
    problems = []
    key, operator = toleration.get("key") or "", toleration.get("operator") or "Equal"
    effect, value = toleration.get("effect") or "", toleration.get("value") or ""
    if operator not in ("Equal", "Exists"):
        problems.append(f"{where}.operator: must be Equal or Exists, got {operator!r}")
    if key and not is_qualified_name(key):
        problems.append(f"{where}.key: {key!r} is not a valid taint key")
    if not key and operator != "Exists":
        problems.append(f"{where}: an empty key matches all taints only with operator: Exists")
    if operator == "Exists" and value:
        problems.append(f"{where}.value: must be empty with operator: Exists")
    if effect and effect not in TAINT_EFFECTS:
        problems.append(f"{where}.effect: must be one of {', '.join(TAINT_EFFECTS)}")
    if toleration.get("tolerationSeconds") is not None:
        if effect != "NoExecute":
            problems.append(f"{where}.tolerationSeconds: only applies to effect: NoExecute")
        if not isinstance(toleration["tolerationSeconds"], int):
            problems.append(f"{where}.tolerationSeconds: must be a whole number of seconds")
    return problems


def _check_metadata(value: dict[str, str], labels: bool) -> dict[str, str]:
    problems = []
    for key, text in value.items():
        if not is_qualified_name(key):
            problems.append(f"{key!r} is not a valid key (prefix/name, name <= 63 characters)")
        elif key.startswith(RESERVED_PREFIX):
            problems.append(f"{key!r}: {RESERVED_PREFIX} keys are set by the agent; rename it")
        elif labels and not is_label_value(text):
            problems.append(f"{key}={text!r}: label values are <= 63 of [A-Za-z0-9_.-]")
    if problems:
        raise ValueError("; ".join(problems))
    return value


class PoolSettings(BaseModel):
    """One GPU node pool and the Jobs the agent puts on it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="Pool name, e.g. a100; also the runyard.dev/pool label of its Jobs."
    )
    namespace: str = Field("default", description="Namespace of the Jobs.")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels of the pool; Jobs cannot leave it."
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Tolerations added to every Job (k8s shape)."
    )
    gpu_resource: str = Field(
        "nvidia.com/gpu", description="GPU resource name: nvidia.com/gpu, amd.com/gpu, ..."
    )
    service_account: str | None = Field(
        None, description="Service account of the Jobs (its token is mounted); unset: none."
    )
    api_key_secret: SecretRef = Field(
        default_factory=SecretRef,
        description="Secret the Jobs read WANDB_API_KEY from; the key is never in a manifest.",
    )
    server_url: str = Field(
        "http://runyard:8080", description="The tracking server URL as jobs reach it."
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list, description="Secrets (in the job namespace) to pull images with."
    )
    default_image: str | None = Field(None, description="Image for items that name none.")
    start_timeout_s: float = Field(
        600, gt=0, description="How long a Job may stay unschedulable before it fails."
    )
    max_preemptions: int = Field(
        3, ge=0, description="Preemptions requeued (same run id) before the item fails."
    )
    allow_privileged: bool = Field(
        False,
        description="Let queue templates ask for privileges (privileged, host namespaces, "
        "hostPath, host ports, capabilities); service-account overrides stay refused.",
    )
    workload_kinds: list[WorkloadKind] = Field(
        default_factory=list,
        description="Custom workloads (e.g. JobSet) queue templates may name besides Jobs.",
    )
    allowed_secrets: list[str] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="Secrets of the job namespace queue templates may reference (names or "
        "globs such as team-a-*); unset: none but the API key and image pull secrets.",
    )
    allowed_priority_classes: list[str] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="Priority classes queue templates may set (names or globs); unset: none.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra Job labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value or not is_label_value(value):
            raise ValueError(
                f"{value!r} cannot be a label value: use up to 63 letters, digits, '-', '_' "
                "or '.', starting and ending with a letter or digit (e.g. a100)"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError(f"{value!r} is not a namespace name (lowercase a-z, 0-9, '-')")
        return value

    @field_validator("node_selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [
            f"{k}={v}" for k, v in value.items() if not (is_qualified_name(k) and is_label_value(v))
        ]
        if bad:
            raise ValueError(f"not valid node labels: {', '.join(bad)}")
        return value

    @field_validator("tolerations")
    @classmethod
    def _tolerations(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        problems = [p for i, t in enumerate(value) for p in _check_toleration(i, t)]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("gpu_resource")
    @classmethod
    def _gpu_resource(cls, value: str) -> str:
        if not _RESOURCE.match(value):
            raise ValueError(
                f"{value!r} is not an extended resource name; use vendor/name, "
                "e.g. nvidia.com/gpu or amd.com/gpu"
            )
        return value

    @field_validator("service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None and not is_dns_subdomain(value):
            raise ValueError(f"{value!r} is not a service account name")
        return value

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{value!r} is not an http(s) URL; give the URL jobs reach the server at, "
                "e.g. http://runyard.runyard.svc:8080"
            )
        return value.rstrip("/")

    @field_validator("image_pull_secrets")
    @classmethod
    def _pull_secrets(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not is_dns_subdomain(name)]
        if bad:
            raise ValueError(f"not Secret names: {', '.join(map(repr, bad))}")
        return value

    @field_validator("allowed_secrets", "allowed_priority_classes")
    @classmethod
    def _allow_lists(cls, value: list[str]) -> list[str]:
        return check_patterns(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_metadata(value, labels=True)

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_metadata(value, labels=False)


def gpu_toleration(pool: PoolSettings) -> dict[str, str]:
    """The toleration of the GPU taint (`nvidia.com/gpu:NoSchedule`) every GPU Job gets."""
    return {"key": pool.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}


def pool_policy(pool: PoolSettings) -> PoolPolicy:
    """What the pool lets templates reference: its allow-lists plus the Secrets the agent
    adds itself (the API key's, the image pull secrets), which a template may name too."""
    own = [pool.api_key_secret.name, *pool.image_pull_secrets]
    secrets = [*pool.allowed_secrets, *(s for s in own if s not in pool.allowed_secrets)]
    return PoolPolicy(
        name=pool.name,
        namespace=pool.namespace,
        allowed_secrets=secrets,
        allowed_priority_classes=list(pool.allowed_priority_classes),
    )
