"""What the server tells clients about itself: supported client versions and features."""

from __future__ import annotations

from typing import Any

from runyard.server.settings import ServerSettings

# Server features the official client asks about (`serverInfo.features`); each is served.
FEATURES: tuple[str, ...] = (
    "UPDATE_RUN_STATE",
    # The Registry (runyard/server/registry): `api.registries()`, `api.registry()`,
    # `api.create_registry()` and `Registry.save()` ask for these two; with the third, a
    # link's answer carries its membership, so the client need not read it again.
    "ARTIFACT_REGISTRY_SEARCH",
    "INCLUDE_ARTIFACT_TYPES_IN_REGISTRY_CREATION",
    "ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE",
    # `filters` and `order` on artifact collection listings (artifacts/filters.py).
    "ARTIFACT_COLLECTIONS_FILTERING_SORTING",
    # Newer clients put the version's id in the `/artifactsV2/...` URLs they build
    # (`api/artifacts.py` serves every shape).
    "ARTIFACT_V2_DOWNLOAD_HANDLER_SUPPORTS_ARTIFACT_ID",
)
# Automation events and actions past those every W&B server has (runyard/server/automations/);
# clients before 0.23 ask for these before creating or updating such automations.
AUTOMATION_FEATURES = (
    "AUTOMATION_EVENT_RUN_METRIC",
    "AUTOMATION_EVENT_RUN_METRIC_CHANGE",
    "AUTOMATION_EVENT_RUN_STATE",
    "AUTOMATION_ACTION_NO_OP",
)
FEATURES += AUTOMATION_FEATURES


def cli_version_info(settings: ServerSettings) -> dict[str, Any]:
    """`serverInfo.cliVersionInfo`: the client versions this server supports.

    Clients before 0.23 ask for `max_cli_version` before logging media and ask again while
    it is null; `wandb verify` fails when it is missing. Both are always set.
    """
    return {
        "min_cli_version": settings.cli_min_version,
        "max_cli_version": settings.cli_max_version,
    }
