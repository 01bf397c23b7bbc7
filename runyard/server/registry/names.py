"""Names in the Registry: registry projects, legacy model-registry projects, their rules."""

from __future__ import annotations

import re

from runyard.server.errors import ErrorCode, ServiceError

REGISTRY_PREFIX = "wandb-registry-"
# The legacy Model Registry: portfolios ("registered models") in a project of this name.
LEGACY_PROJECT = "model-registry"
MAX_PROJECT_NAME = 128
# Letters, digits, '-', '_' and '.': a registry name travels in paths and URLs.
_REGISTRY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# The Registry's two core registries, made at first start with organization visibility.
CORE_REGISTRIES = {"model": "model", "dataset": "dataset"}


def is_registry_project(project_name: str) -> bool:
    """Whether a project name is a registry's (`wandb-registry-<name>`)."""
    return project_name.startswith(REGISTRY_PREFIX) and project_name != REGISTRY_PREFIX


def registry_name(project_name: str) -> str:
    """The registry's own name: the project name without `wandb-registry-`."""
    return project_name.removeprefix(REGISTRY_PREFIX)


def project_name_of(name: str) -> str:
    """The project name of a registry named `name` (with or without the prefix)."""
    return name if is_registry_project(name) else REGISTRY_PREFIX + name


def check_registry_project_name(project_name: str, field: str = "name") -> str:
    """Return the project name of a valid registry, else raise naming the rule."""
    if not is_registry_project(project_name):
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {project_name!r} is not a registry name: registries are projects "
            f"named {REGISTRY_PREFIX}<name> (e.g. {REGISTRY_PREFIX}models)",
        )
    name = registry_name(project_name)
    longest = MAX_PROJECT_NAME - len(REGISTRY_PREFIX)
    if len(name) > longest or not _REGISTRY_NAME_RE.fullmatch(name):
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {name!r} is not a valid registry name: use 1 to {longest} letters, "
            "digits, '-', '_' or '.', starting with a letter or digit (e.g. 'fine-tuned')",
        )
    return project_name
