"""The W&B environment a Kubernetes job gets: what the official client reads, and no key."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

import pytest
import wandb
from wandb.sdk import wandb_init
from wandb.sdk.launch import _project_spec
from wandb.sdk.launch.utils import MAX_ENV_LENGTHS, load_wandb_config

from runyard.launch.kubernetes.pool import SecretRef
from runyard.launch.kubernetes.wandb_env import MAX_ENV_LENGTH, config_env, run_id_for, wandb_env
from support.k8s import ITEM_ID, POOL, make_item

BIG_CONFIG = {f"layer_{i}": {"width": i, "note": "x" * 100} for i in range(1000)}


def _values(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in entries}


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in [k for k in os.environ if k.startswith("WANDB_CONFIG")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_env_tells_the_client_where_and_as_which_run_to_log() -> None:
    item = make_item(name="sweep-lr-0.1")
    env = _values(wandb_env(item, POOL, "abcd1234"))
    assert env == {
        "WANDB_BASE_URL": "http://runyard.runyard:8080",
        "WANDB_RUN_ID": "abcd1234",
        "WANDB_PROJECT": "llm",
        "WANDB_ENTITY": "team",
        "WANDB_RESUME": "allow",
        "WANDB_LAUNCH": "True",
        "WANDB_LAUNCH_QUEUE_NAME": "a100",
        "WANDB_LAUNCH_QUEUE_ENTITY": "team",
        "WANDB_LAUNCH_TRACE_ID": ITEM_ID,
        "WANDB_NAME": "sweep-lr-0.1",
        "WANDB_CONFIG": json.dumps({"lr": 0.1}),
        "WANDB_API_KEY": {"secretKeyRef": {"name": "runyard-api-key", "key": "api-key"}},
    }


def test_entity_falls_back_to_the_items_and_unnamed_runs_get_no_name() -> None:
    env = _values(wandb_env(make_item(entity=None, overrides={}), POOL, "r"))
    assert env["WANDB_ENTITY"] == "team"
    assert "WANDB_NAME" not in env and not any(k.startswith("WANDB_CONFIG") for k in env)


def test_api_key_only_ever_comes_from_the_pools_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "local-key-0123456789abcdef")  # the agent's own key
    pool = POOL.model_copy(update={"api_key_secret": SecretRef(name="wandb", key="token")})
    entries = wandb_env(make_item(), pool, "r")
    key = next(e for e in entries if e["name"] == "WANDB_API_KEY")
    assert key == {
        "name": "WANDB_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "wandb", "key": "token"}},
    }
    assert "local-key-0123456789abcdef" not in json.dumps(entries)


def test_run_id_is_kept_or_derived_from_the_item_so_redelivery_resumes_it() -> None:
    assert run_id_for(make_item(run_id="keepme12")) == "keepme12"
    derived = run_id_for(make_item())
    assert re.fullmatch(r"[a-z0-9]{8}", derived)
    assert derived == run_id_for(make_item())  # same item, delivered again: same run
    assert derived != run_id_for(make_item(item_id="0" * 32))


def test_chunking_matches_wandbs_own_writer() -> None:
    assert MAX_ENV_LENGTHS["KubernetesRunner"] == MAX_ENV_LENGTH
    for config in ({"lr": 0.1}, BIG_CONFIG):
        theirs: dict[str, Any] = {}
        _project_spec._inject_wandb_config_env_vars(config, theirs, MAX_ENV_LENGTH)
        assert config_env(config) == theirs


def test_a_large_config_round_trips_through_the_installed_clients_readers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = make_item(overrides={"run_config": BIG_CONFIG})
    env = {
        e["name"]: e["value"]
        for e in wandb_env(item, POOL, "r")
        if e["name"].startswith("WANDB_CONFIG")
    }
    size = len(json.dumps(BIG_CONFIG))
    assert size > 100_000
    assert set(env) == {f"WANDB_CONFIG_{i}" for i in range(math.ceil(size / MAX_ENV_LENGTH))}
    assert all(len(value) <= 32_670 for value in env.values())
    _use_env(monkeypatch, env)
    assert dict(load_wandb_config()) == BIG_CONFIG  # wandb.sdk.launch's reader
    # ... and the one wandb.init() uses inside the job.
    assert wandb_init._handle_launch_config(wandb.Settings(launch=True)) == BIG_CONFIG


def test_a_config_at_the_limit_stays_in_one_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"k": "x" * (MAX_ENV_LENGTH - len('{"k": ""}'))}
    env = config_env(config)
    assert list(env) == ["WANDB_CONFIG"] and len(env["WANDB_CONFIG"]) == MAX_ENV_LENGTH
    _use_env(monkeypatch, env)
    assert wandb_init._handle_launch_config(wandb.Settings(launch=True)) == config
