"""The W&B environment of a Job's main container, as Kubernetes env entries.

The values are the ones every runner gives a launched job (`agent.run_env`, shared with
the local-process runner so both resume the same run the same way): server URL, run id,
project, entity, resume, launch queue and trace id, run name, and the config overrides as
`WANDB_CONFIG` (cut into `WANDB_CONFIG_0`, `_1`, ... past 32,670 characters, exactly as
wandb's launch code writes them and its `wandb.init` reads them back).

The API key is the exception: it comes from the pool's Secret through `secretKeyRef`, so
no key is ever written into a manifest (anyone who can read Jobs could read it there).
"""

from __future__ import annotations

import re
from typing import Any

from ..agent.run_env import MAX_ENV_LENGTH, config_env, run_id_for, wandb_values
from ..models import QueueItem
from .pool import PoolSettings

__all__ = ["MAX_ENV_LENGTH", "config_env", "is_config_var", "run_id_for", "wandb_env"]

API_KEY_VAR = "WANDB_API_KEY"
_CONFIG_VAR = re.compile(r"^WANDB_CONFIG(_\d+)?$")


def is_config_var(name: str) -> bool:
    """True for WANDB_CONFIG and its chunks WANDB_CONFIG_0, WANDB_CONFIG_1, ..."""
    return bool(_CONFIG_VAR.match(name))


def wandb_env(item: QueueItem, pool: PoolSettings, run_id: str) -> list[dict[str, Any]]:
    """Env entries for the official wandb client; WANDB_API_KEY from the pool's Secret."""
    entries: list[dict[str, Any]] = [
        {"name": name, "value": value}
        for name, value in wandb_values(item, pool.server_url, run_id).items()
    ]
    secret = pool.api_key_secret
    entries.append(
        {
            "name": API_KEY_VAR,
            "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}},
        }
    )
    return entries
