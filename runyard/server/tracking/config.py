"""Run config in W&B's wire form (`{"k": {"value": v}}`) and Runyard's stored form (`{"k": v}`)."""

from __future__ import annotations

from typing import Any

WANDB_KEY = "_wandb"


def unwrap_config(wire: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split wire config into (user config, `_wandb` internals), dropping the value wrappers."""
    config: dict[str, Any] = {}
    internals: dict[str, Any] = {}
    for key, item in wire.items():
        value = item.get("value") if isinstance(item, dict) and "value" in item else item
        if key == WANDB_KEY:
            internals = value if isinstance(value, dict) else {}
        else:
            config[key] = value
    return config, internals


def wrap_config(config: dict[str, Any], internals: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the wire form that W&B clients read back (resume, public API)."""
    wire: dict[str, Any] = {key: {"value": value} for key, value in config.items()}
    if internals:
        wire[WANDB_KEY] = {"value": internals}
    return wire
